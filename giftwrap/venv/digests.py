"""md5 of the staged files, computed once they are written, beside the later stages.

A .deb lists the md5 of each file it installs (``DEBIAN/md5sums``), and
hashing a virtualenv (keystone: 11,000 files, 160 MB) costs as much CPU as
half its zstd compression.  Done inside the packaging stage, it competed
with the compressor for the same cores; done here, it starts as soon as the
virtualenv stage has written the tree (relocated, byte-compiled) and runs
while that stage scans it for build paths and the later stages strip it,
find the system dependencies and describe the package, which mostly read
or wait for other processes.  A builder that reads it (``Builder.wants_md5``) asks
:meth:`giftwrap.api.StagedTree.md5` per file.

The hashing runs in a process of its own (this module as a script, on
giftwrap's interpreter): threads of giftwrap's own would hold its GIL for
every file opened and read, and the stages running meanwhile would wait
for it.

With a memo file (in the cache's ``scan/``, one per install path), the
md5 of every file hashed is kept by that identity, and a later build
takes it for a file that is still the same (the hard links to uv's cache
and to the byte-code cache a rebuild stages again) instead of reading it:
the process then competes with the packaging stage for the cores for the
new files only.

Only a file that is still the one hashed is answered for: same device,
inode, size and modification time.  Every write to a staged file is a new
file renamed over the old one (a new inode), so a file changed after it was
hashed is not answered for, and the builder hashes it itself.  A file that
cannot be read (a race with a failing build removing its work directory),
or any failure of the hashing process, means only that fewer files are
answered for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

LOG = logging.getLogger(__name__)

# Files hashed per task: one task per file costs more than hashing a small
# file.
_BATCH = 128
# (device, inode, size, mtime in ns): what says a file is still the one hashed
_Key = tuple[int, int, int, int]


class Digests:
    """The md5 of every regular file below one directory, being computed.

    :param top: the staged virtualenv (symlinks are not followed).
    :param threads: how many threads hash.
    """

    def __init__(self, top: str, threads: int, memo: str | None = None):
        self.top = top
        self._found: dict[str, tuple[_Key, str]] = {}
        self._done = threading.Event()
        try:
            self._process = subprocess.Popen(
                [sys.executable, '-I', os.path.abspath(__file__), top,
                 str(max(1, threads)), *([memo] if memo else [])],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL)
        except OSError:
            LOG.debug('cannot hash %s ahead', top, exc_info=True)
            self._done.set()
            return
        threading.Thread(target=self._read, name='staged-md5',
                         daemon=True).start()

    def md5(self, path: str, st: os.stat_result | None = None
            ) -> str | None:
        """The md5 (hex) of the file at ``path``, once every file is
        hashed, if it is still the file that was hashed (its ``lstat``:
        ``st`` if the caller has it, else taken here); else None."""
        self._done.wait()
        found = self._found.get(path)
        if found is None:
            return None
        if st is None:
            try:
                st = os.lstat(path)
            except OSError:
                return None
        return found[1] if found[0] == _key(st) else None

    def wait(self) -> None:
        """Until every file is hashed (or given up on)."""
        self._done.wait()

    def _read(self) -> None:
        try:
            out, _ = self._process.communicate()
            self._found = dict(_parse(out))
        except Exception:  # never fails the build: the builder hashes
            LOG.debug('hashing %s ahead failed', self.top, exc_info=True)
        finally:
            self._done.set()


def memo_file(cache_dir, install_path) -> str | None:
    """The md5 memo of ``install_path``'s trees in the cache, if any."""
    if cache_dir is None:
        return None
    name = hashlib.sha256(f'giftwrap-md5-1\0{install_path}'.encode(
        'utf-8', 'surrogateescape')).hexdigest()
    return os.path.join(cache_dir, 'scan', f'md5-{name}.json')


def _parse(out: bytes) -> Iterator[tuple[str, tuple[_Key, str]]]:
    """The hashing process's records: ``md5 dev ino size mtime path\\0``."""
    for record in out.split(b'\0'):
        fields = record.split(b' ', 5)
        if len(fields) != 6:
            continue
        digest, *numbers, path = fields
        yield os.fsdecode(path), (tuple(map(int, numbers)), digest.decode())


def _batches(top: str) -> Iterator[list[str]]:
    batch = []
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            batch.append(os.path.join(dirpath, name))
            if len(batch) == _BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _hash(paths: list[str], memo: dict[str, str], seen: dict[str, str]
          ) -> bytes:
    records = []
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # a symlink, or gone
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue  # a fifo or device: the builders refuse those
            numbers = identity(st)
            digest = memo.get(numbers)
            if digest is None:
                with open(fd, 'rb', closefd=False) as handle:
                    digest = hashlib.file_digest(handle, 'md5').hexdigest()
            seen[numbers] = digest
            records.append(f'{digest} {numbers} '.encode()
                           + os.fsencode(path) + b'\0')
        except OSError:
            continue
        finally:
            os.close(fd)
    return b''.join(records)


def _key(st: os.stat_result) -> _Key:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def identity(st: os.stat_result) -> str:
    """What says a file is still the same one, as memos keep it."""
    return ' '.join(map(str, _key(st)))


def _load(memo: str | None) -> dict[str, str]:
    try:
        found = json.loads(open(memo, encoding='utf-8').read()) if memo \
            else {}
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _keep(memo: str, seen: dict[str, str]) -> None:
    """Write the memo anew and rename it over the old one."""
    tmp = f'{memo}.{os.getpid()}.tmp'
    try:
        os.makedirs(os.path.dirname(memo), exist_ok=True)
        with open(tmp, 'w', encoding='utf-8') as out:
            json.dump(seen, out)
        os.replace(tmp, memo)
    except OSError:  # a cache that cannot be written: hash again next time
        try:
            os.unlink(tmp)
        except OSError:
            pass


def main(argv: list[str]) -> int:
    """Hash every regular file below ``argv[0]`` on ``argv[1]`` threads;
    write one record per file to standard output.  ``argv[2]``, if given:
    the memo file, read first and written again with this tree's files."""
    top, threads = argv[0], int(argv[1])
    memo_file = argv[2] if len(argv) > 2 else None
    memo, seen = _load(memo_file), {}
    with ThreadPoolExecutor(threads) as pool:
        for records in pool.map(lambda batch: _hash(batch, memo, seen),
                                _batches(top)):
            sys.stdout.buffer.write(records)
    sys.stdout.buffer.flush()
    if memo_file and seen != memo:
        _keep(memo_file, seen)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

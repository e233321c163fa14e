"""The shadow tree the dpkg-deb builder packages: the staged tree, only read.

``dpkg-deb -b`` packages a directory holding ``DEBIAN/``.  The staged tree
is never written to: its files may be hard links into giftwrap's caches,
whose content, mode and time must not change.  So the builder lays out a
*shadow tree* in its work directory: a hard link to each staged file (a new
directory entry of the same inode: nothing is written), the generated files
and ``DEBIAN/``.  A file is copied instead where linking would change the
package:

* its inode is already in the package under another name: tar would store
  a hard link, which nfpm never does;
* the link fails (another filesystem, or ``protected_hardlinks``).

A file's own time does not matter: the dpkg-deb builder's tar dates every
entry ``SOURCE_DATE_EPOCH`` (:func:`giftwrap.builders.dpkgdeb.fixed_time_tar`).
Each regular file is hashed for ``md5sums`` (dpkg-deb writes none) on a
pool of threads while the next ones are linked, and while dpkg-deb runs.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping

from giftwrap.api import BuildError

# Files hashed per task: one task per file costs more than hashing a small
# file.
_BATCH = 128


class Shadow:
    """The directory dpkg-deb packages, as it is being laid out.

    A file's own time does not matter: the dpkg-deb builder's tar dates every
entry ``SOURCE_DATE_EPOCH`` (:func:`giftwrap.builders.dpkgdeb.fixed_time_tar`).
Each regular file is hashed (md5sums) by a pool of threads while the
    next ones are linked: hashlib and the system calls release the GIL.
    Paths are strings: a virtualenv has tens of thousands of entries.

    :param threads: how many threads hash.
    :ivar copied: how many staged files were copied rather than linked.
    :ivar size: the regular files' total size in bytes.
    """

    def __init__(self, root: Path, epoch: int, threads: int):
        self.root = str(root)
        self.epoch = epoch
        self.copied = 0
        self.size = 0
        self._hashes: list[Future] = []
        self._batch: list[tuple[str, str]] = []
        self._inodes: set[tuple[int, int]] = set()
        self._dirs: dict[str, int] = {self.root: 0o755}
        self._pool = ThreadPoolExecutor(threads)

    def __enter__(self) -> 'Shadow':
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(cancel_futures=True)

    def place(self, entry: Mapping[str, Any]) -> None:
        """Add one nfpm ``contents`` entry below :attr:`root`."""
        dst = entry['dst']
        if '\n' in dst:
            raise BuildError(f'{dst!r} has a line break in its name',
                             where=entry.get('src'),
                             hint='dpkg cannot list it; rename the file')
        path = self.root + dst
        self.directory(os.path.dirname(path))
        mode = entry['file_info']['mode']
        kind = entry.get('type')
        if kind == 'dir':
            self.directory(path, mode)
        elif kind == 'symlink':
            os.symlink(entry['src'], path)
            os.utime(path, (self.epoch, self.epoch), follow_symlinks=False)
        else:
            self._file(entry['src'], path, mode)
            self._batch.append((dst, path))
            if len(self._batch) == _BATCH:
                self._hash()

    def directory(self, path: str, mode: int | None = None) -> None:
        """Make ``path`` and its missing parents (0755); ``mode`` is set
        at the end (:meth:`finish`), so a read-only directory still gets
        its entries."""
        if path not in self._dirs:
            self.directory(os.path.dirname(path))
            os.mkdir(path, 0o700)
            self._dirs[path] = 0o755
        if mode is not None and path != self.root:
            self._dirs[path] = mode

    def _file(self, src: str, path: str, mode: int) -> None:
        st = os.stat(src)
        self.size += st.st_size
        inode = (st.st_dev, st.st_ino)
        if inode not in self._inodes:
            try:
                os.link(src, path)
                self._inodes.add(inode)
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
        # A new file: the staged one (perhaps the cache's) is only read.
        shutil.copyfile(src, path)
        os.chmod(path, mode)
        os.utime(path, (self.epoch, self.epoch))
        self.copied += 1

    def _hash(self) -> None:
        self._hashes.append(self._pool.submit(_digests, self._batch))
        self._batch = []

    def md5sums(self) -> str:
        """``DEBIAN/md5sums``, once every file is hashed."""
        self._hash()
        done = sorted(d for future in self._hashes for d in future.result())
        return ''.join(f'{md5}  {dst[1:]}\n' for dst, md5 in done)

    def finish(self) -> None:
        """Give the directories made here their modes and the build's
        time, children first (adding an entry dates its directory)."""
        for path in sorted(self._dirs, key=lambda p: p.count('/'),
                           reverse=True):
            os.chmod(path, self._dirs[path])
            os.utime(path, (self.epoch, self.epoch))


def _digests(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(installed path, md5) of each (installed path, file)."""
    done = []
    for dst, path in files:
        with open(path, 'rb') as handle:
            done.append((dst, hashlib.file_digest(handle, 'md5').hexdigest()))
    return done


def remove(root: Path) -> None:
    """Remove a shadow tree, read-only directories too (unlinking a hard
    link leaves the staged file as it is)."""
    if root.is_symlink() or not root.exists():
        root.unlink(missing_ok=True)
        return
    root.chmod(0o700)
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:  # before os.walk lists them
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o700)
    shutil.rmtree(root)

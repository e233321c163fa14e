"""The build-path scan: no staged file may name a build directory.

Every file of the staged virtualenv is read, binary ones too, for the
paths of the work, staging, source and cache directories; symlinks are
checked by their target and not followed.  The scan also tells the ELF
objects (native code) apart, so the system-dependency stage reads only
those.

Most of a rebuild's files are the same files as the last build's: hard
links to uv's unpacked wheels and to the byte-code cache.  A file found
clean is remembered in the cache (``scan/``) by what says it is still the
same file, as the md5 process judges it (device, inode, size and
modification time in ns: giftwrap never writes a staged or cached file in
place, a change is a new file renamed over it), for the same directories
looked for; such a file is not read again.  A file that names a build
directory is never remembered, so it fails every build that stages it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence

from giftwrap import errors
from giftwrap.util import atomic
from giftwrap.venv.digests import identity
from giftwrap.venv.relocate import ELF_MAGIC

LOG = logging.getLogger(__name__)

# A needle must end where a path component ends, so /w does not match /w2.
_NOT_PATH_CHAR = rb'(?![A-Za-z0-9._+~-])'
_CHUNK = 1 << 20
_SHOWN = 10
#: in front of every memo's key: memos of another scheme are not mixed in
_SCHEME = 'giftwrap-scan-1'


def scan(venv: Path, forbidden: Sequence[Path], install_path: PurePosixPath,
         memo_dir: Path | None = None) -> tuple[str, ...]:
    """Check that no file or link in ``venv`` names a ``forbidden`` path.

    :param install_path: paths that are a prefix of it cannot be checked
        (every shebang would match) and are skipped.
    :param memo_dir: where the files found clean are remembered (the
        cache's ``scan/``), or None: read every file.
    :returns: the ELF objects (native code) among the files, as paths
        relative to ``venv``, sorted.
    :raises giftwrap.errors.BuildError: naming the first offending files.
    """
    needles = _needles(forbidden, install_path)
    pattern = re.compile(b'(?:' + b'|'.join(re.escape(n) for n in needles)
                         + b')' + _NOT_PATH_CHAR) if needles else None
    # bytes.find of what every needle starts with is many times faster
    # than the regular expression, and almost never finds anything.
    prefix = os.path.commonprefix(needles) if needles else b''
    memo = _Memo.of(memo_dir, needles, install_path)
    offenders, native = [], []
    top = str(venv)
    for entry in _entries(top):
        if entry.is_symlink():
            hit = pattern and pattern.search(os.fsencode(
                os.readlink(entry.path)))
        elif entry.is_file(follow_symlinks=False):
            elf, hit = memo.scan(entry, pattern, prefix)
            if elf:
                native.append(os.path.relpath(entry.path, top))
        else:  # a fifo, a socket, a device: nothing to read
            continue
        if hit:
            offenders.append(f'{os.path.relpath(entry.path, top)}: '
                             f'{hit.group().decode(errors="replace")}')
    if offenders:
        raise errors.BuildError(
            f'{len(offenders)} files in the virtualenv name a build '
            f'directory', output='\n'.join(offenders[:_SHOWN]),
            hint='such a package would only work on the build machine; '
                 'find what wrote the path (a script, a compiled extension) '
                 'and build that distribution without it')
    memo.save()
    return tuple(sorted(native))


def _needles(forbidden: Sequence[Path], install_path: PurePosixPath
             ) -> list[bytes]:
    needles = set()
    for path in forbidden:
        for text in {os.path.abspath(path), os.path.realpath(path)}:
            if PurePosixPath(install_path).is_relative_to(text):
                LOG.warning('cannot check for %s: the install path %s is '
                            'inside it', text, install_path)
                continue
            needles.add(os.fsencode(text))
    # Longest first, so the offending path shown is the most precise one.
    return sorted(needles, key=len, reverse=True)


def essential(needles: Sequence[bytes]) -> list[bytes]:
    """The needles that no shorter one is a directory of: a file names one
    of ``needles`` exactly when it names one of these (a needle must end
    where a path component ends, and ``/``, which follows a directory in a
    longer path, ends one).  The work directory is in the cache by default
    and changes every run; the cache does not."""
    return sorted(n for n in needles
                  if not any(n.startswith(other + b'/') for other in needles))


def _entries(top: str) -> Iterator[os.DirEntry]:
    """Every entry under ``top`` but directories (links to directories
    included, not followed), directory by directory, by name: one
    ``getdents`` per directory, no ``stat`` per file."""
    with os.scandir(top) as listing:
        found = sorted(listing, key=lambda entry: entry.name)
    for entry in found:
        if entry.is_dir(follow_symlinks=False):
            yield from _entries(entry.path)
        else:
            yield entry


def _scan_file(path: str, pattern: re.Pattern | None, prefix: bytes = b''
               ) -> tuple[bool, re.Match | None]:
    """Whether the regular file ``path`` is ELF, and the first forbidden
    path it contains.

    :param prefix: what every match starts with (a quick test first).
    """
    overlap = max(len(pattern.pattern), 1) if pattern else 1
    with open(path, 'rb') as stream:
        chunk = stream.read(_CHUNK)
        elf = chunk.startswith(ELF_MAGIC)
        tail = b''
        while chunk and pattern is not None:
            data = tail + chunk
            hit = pattern.search(data) if prefix in data else None
            if hit:
                return elf, hit
            tail = (tail + chunk)[-overlap:]
            chunk = stream.read(_CHUNK)
    return elf, None


class _Memo:
    """The clean files of one install path's earlier scans, for the same
    (essential) needles: identity -> whether it is ELF."""

    def __init__(self, path: Path | None, known: dict[str, int]):
        self.path, self.known, self.seen = path, known, {}

    @classmethod
    def of(cls, memo_dir: Path | None, needles: Sequence[bytes],
           install_path: PurePosixPath) -> '_Memo':
        if memo_dir is None:
            return cls(None, {})
        key = hashlib.sha256('\0'.join(
            [_SCHEME, str(install_path)] +
            [os.fsdecode(n) for n in essential(needles)]).encode(
                'utf-8', 'surrogateescape')).hexdigest()
        path = memo_dir / f'{key}.json'
        try:
            known = json.loads(path.read_text())
        except (OSError, ValueError):
            known = {}
        if not isinstance(known, dict):
            known = {}
        return cls(path, known)

    def scan(self, entry: os.DirEntry, pattern, prefix: bytes
             ) -> tuple[bool, re.Match | None]:
        if self.path is None:
            return _scan_file(entry.path, pattern, prefix)
        ident = identity(entry.stat(follow_symlinks=False))
        elf = self.known.get(ident)
        if elf in (0, 1):
            self.seen[ident] = elf
            return bool(elf), None
        elf, hit = _scan_file(entry.path, pattern, prefix)
        if not hit:
            self.seen[ident] = int(elf)
        return elf, hit

    def save(self) -> None:
        """Keep what this scan saw: the next build of the install path
        stages mostly the same files."""
        if self.path is None or self.seen == self.known:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(self.path, json.dumps(self.seen))
        except OSError as exc:  # a cache that cannot be written: read again
            LOG.debug('cannot keep the scan memo %s: %s', self.path, exc)

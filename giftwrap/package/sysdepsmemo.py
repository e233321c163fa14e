"""A rebuild's system dependencies, remembered.

:func:`giftwrap.package.sysdeps.discover` reads the virtualenv's ELF files,
asks the dynamic linker's cache and dpkg which files and packages provide
the libraries they need, and dpkg-shlibdeps and elfdeps what to depend on:
0.3 s of keystone's rebuild, for the answer the last build got.  That
answer depends only on those files and on the host's libraries and
packages, so on the build host it is kept in ``cache_dir/shlibs`` under
the hash of:

- each ELF file's path in the virtualenv and identity (device, inode,
  size, modification time): giftwrap never writes a staged or cached file
  in place, so the same identity is the same content, and a rebuild links
  the same files from uv's cache;
- the identity of the dynamic linker's cache and of the package databases
  (``/etc/ld.so.cache``, dpkg's ``status`` and ``diversions``, rpm's
  database): installing, upgrading or removing a package, or running
  ldconfig, writes them anew;
- what was asked (versioned Debian relations; rpm capabilities).

A memo that cannot be read, or does not hold what an answer holds, is
ignored: the discovery runs again.  A library copied into a system
directory by hand, without ldconfig or a package, is not noticed until
one of those changes (``giftwrap cache prune --kind shlibs`` forgets).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Sequence

from giftwrap.util import atomic

LOG = logging.getLogger(__name__)

#: kept in front of every key: answers of an older scheme are not mixed in
_SCHEME = 'giftwrap-sysdeps-memo-1'
#: what the host's answer depends on besides the files
HOST_STATE = ('/etc/ld.so.cache', '/var/lib/dpkg/status',
              '/var/lib/dpkg/diversions', '/var/lib/rpm/rpmdb.sqlite',
              '/var/lib/rpm/Packages')


def key(venv: Path, candidates: Sequence[str], *, versioned: bool,
        capabilities: bool) -> str | None:
    """The memo's key, or None when a file cannot be looked at."""
    digest = hashlib.sha256(f'{_SCHEME}\n{versioned}\n{capabilities}\n'
                            .encode())
    try:
        for name in sorted(set(candidates)):
            digest.update(_identity(venv / name, name))
        for path in HOST_STATE:
            if os.path.lexists(path):
                digest.update(_identity(Path(path), path))
    except OSError as exc:
        LOG.debug('no system dependencies memo: %s', exc)
        return None
    return digest.hexdigest()


def _identity(path: Path, name: str) -> bytes:
    stat = os.lstat(path)
    return (f'{name}\0{stat.st_dev} {stat.st_ino} {stat.st_size} '
            f'{stat.st_mtime_ns}\n').encode('utf-8', 'surrogateescape')


def recall(cache_dir: Path, memo: str) -> dict | None:
    """The answer kept under ``memo``, or None."""
    try:
        found = json.loads(_path(cache_dir, memo).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def keep(cache_dir: Path, memo: str, answer: dict) -> None:
    """Keep ``answer`` under ``memo`` (a new file renamed over the old)."""
    try:
        _path(cache_dir, memo).parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(_path(cache_dir, memo), json.dumps(answer))
    except OSError as exc:  # a cache that cannot be written: ask again
        LOG.debug('cannot keep the system dependencies memo: %s', exc)


def _path(cache_dir: Path, memo: str) -> Path:
    return cache_dir / 'shlibs' / f'discovered-{memo}.json'

"""Moving the last build's files aside instead of removing them.

A build that must start cold finds its cache and trees gone, but the
benchmark does not delete them right before it: on ext4 without a journal
(this development machine's root file system), a new inode is not given
one deleted in the last minute, and finding the next free one reads the
inode table past every recent deletion.  Removing the 50,000 files of the
last build's cache right before a build made keystone's cold build 20-30 %
slower (its processes' system time 6.6 s instead of 3 s), on whichever
side of a ratio that happened to fall.  So the files go into the trash
directory, a rename, and the trash is emptied when the benchmark ends.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

_root: Path | None = None
_count = itertools.count()


def use(root: Path) -> None:
    """Move discarded files below ``root`` (on the same file system as
    everything discarded) from now on."""
    global _root
    _root = root
    empty()


def discard(path: Path) -> None:
    """Make ``path`` (a file or a directory tree) disappear from where it
    is; removed outright when no trash directory is in use."""
    if not os.path.lexists(path):
        return
    if _root is None:
        _remove(path)
        return
    _root.mkdir(parents=True, exist_ok=True)
    os.rename(path, _root / f'{next(_count)}-{path.name}')


def empty() -> None:
    """Remove what was discarded."""
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)


def _remove(path: Path) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)

"""Repacking a git mirror of the cache: one pack, not one per fetch.

dulwich stores what each fetch brings as a pack of its own and never
repacks, so a mirror rebuilt from a new commit every day holds hundreds of
packs, and every object lookup tries them in turn: a fetch and checkout of
a 200-file repository took 0.03 s from one pack and 0.17 s from 300.
``giftwrap cache prune`` repacks the mirrors it keeps.  No build runs then
(prune holds the cache's lock exclusively), and it holds each mirror's own
lock, as fetching does.

``git repack -a -d --keep-unreachable``: a commit no branch or tag reaches
any more (a branch deleted upstream, a commit fetched by its id) may still
be pinned by a lock file and built ``--offline``, so no object is dropped.
git runs with no configuration but the mirror's own, which giftwrap wrote.
Without git the packs stay as they are: dulwich's repack holds every object
of the repository in memory.

The mirror's modification times are put back afterwards: its age is that
of its last fetch, which is what ``--older-than`` compares.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from giftwrap.fetch.worktree import GIT_ENV
from giftwrap.util.process import Runner, base_environment, find_tool

LOG = logging.getLogger(__name__)


def packs(mirror: Path) -> int:
    """How many packs ``mirror`` holds."""
    pack_dir = mirror / 'objects' / 'pack'
    return len(list(pack_dir.glob('*.pack'))) if pack_dir.is_dir() else 0


def repack(mirror: Path, runner: Runner) -> int:
    """Put the objects of ``mirror`` (a bare repository) into one pack.

    The caller holds the mirror's lock and no build reads it.  A mirror git
    cannot repack (a broken one, git missing) is left as it is, and said so
    in the log: the next fetch of a broken one reports it.

    :returns: how many packs were put into one (0: none were).
    """
    count = packs(mirror)
    if count < 2:
        return 0
    git = find_tool('git')
    if git is None:
        LOG.warning('git is not installed: the %d packs of %s are left as '
                    'they are (install git to repack them)', count, mirror)
        return 0
    times = _times(mirror)
    try:
        result = runner.run(
            [git, f'--git-dir={mirror}', 'repack', '-a', '-d', '-q', '-n',
             '--keep-unreachable', '--no-write-bitmap-index'],
            env=base_environment(**GIT_ENV), check=False,
            what='git repack (cache)')
    finally:
        _restore(times)
    if result.returncode != 0:
        LOG.warning('git could not repack %s; it is left as it is:\n%s',
                    mirror, result.tail())
        return 0
    return count


def _times(mirror: Path) -> dict[Path, tuple[int, int]]:
    """The times the mirror's age is read from: its own and its entries'."""
    found = {}
    for each in [mirror, *mirror.iterdir()]:
        with contextlib.suppress(FileNotFoundError):
            stat = each.lstat()
            found[each] = (stat.st_atime_ns, stat.st_mtime_ns)
    return found


def _restore(times: dict[Path, tuple[int, int]]) -> None:
    for each, stamp in times.items():
        with contextlib.suppress(FileNotFoundError):
            os.utime(each, ns=stamp, follow_symlinks=False)

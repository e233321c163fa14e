"""giftwrap's cache directory: what it holds, and keeping it bounded.

Every kind of cached thing lives in its own directory under the cache
(``--cache-dir``).  A build holds a shared lock on the cache directory for
its whole run and an exclusive one on its own work directory; ``giftwrap
cache prune`` takes the cache's lock exclusively (so it waits for running
builds) and each git mirror's own lock, as fetching does; the mirrors it
keeps it repacks (:mod:`giftwrap.fetch.repack`).  A work
directory nobody holds a lock on belongs to a killed run: the next build
removes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from giftwrap import errors
from giftwrap.util.process import Runner, base_environment, find_tool

LOG = logging.getLogger(__name__)

#: In a work directory: kept for inspection (``--keep-work``), not removed
#: when its run is gone; ``cache prune --kind work`` still removes it.
KEEP = '.giftwrap-keep-work'


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of cached thing.

    :ivar dirs: its directories, relative to the cache.
    :ivar unit: what is pruned as one: ``file``; ``dir`` (each directory
        in it: a run's logs or work, a git mirror); ``whole`` (the
        directory itself, whose files belong together).
    :ivar tool: ``pip`` or ``uv``: that tool prunes its own cache.
    :ivar needed_offline: pruning it breaks ``--offline`` and warm reuse.
    """

    name: str
    dirs: tuple[str, ...]
    unit: str = 'file'
    tool: str | None = None
    needed_offline: bool = False


KINDS = {k.name: k for k in (
    Kind('git', ('git',), unit='dir', needed_offline=True),
    Kind('pip', ('pip',), tool='pip', needed_offline=True),
    Kind('uv', ('uv',), tool='uv', needed_offline=True),
    Kind('virtualenv', ('virtualenv',), unit='whole'),
    Kind('wheelhouse', ('wheelhouse',), needed_offline=True),
    Kind('build-requirements', ('build-requirements',), needed_offline=True),
    Kind('discover', ('discover',)),
    Kind('bindep', ('bindep',)),
    Kind('shlibs', ('shlibs',)),
    Kind('resolvers', ('http', 'resolvers'), needed_offline=True),
    Kind('bytecode', ('bytecode',)),
    Kind('scan', ('scan',)),
    Kind('logs', ('logs',), unit='dir'),
    Kind('work', ('work',), unit='dir'),
)}

_CLAIM = '.claim-'
_AGE = re.compile(r'^([0-9]+)([smhdw])\Z')
_SECONDS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400}


def parse_age(text: str) -> float:
    """Seconds of an age such as ``30d``, ``12h``, ``2w``.

    :raises giftwrap.errors.BuildError: not such an age.
    """
    match = _AGE.match(text.strip())
    if not match:
        raise errors.BuildError(f'{text!r} is not an age', where='--older-than',
                                hint='a number and a unit: 30d, 12h, 2w, 90m')
    return int(match.group(1)) * _SECONDS[match.group(2)]


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def in_use(cache_dir: Path, work_dir: Path, keep: bool = False
           ) -> Iterator[None]:
    """Hold the cache (shared) and ``work_dir`` (exclusively) for a build;
    first remove the work directories of runs that were killed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _flock(cache_dir, fcntl.LOCK_SH):
        remove_abandoned(cache_dir / 'work')
        fd = _claim(work_dir)
        try:
            if keep and work_dir.parent == cache_dir / 'work':
                (work_dir / KEEP).touch()  # not for the next run to remove
            yield
        finally:
            os.close(fd)


def _claim(work_dir: Path) -> int:
    """Make ``work_dir`` and lock it, so no other run takes it for
    abandoned: made under another name, locked, then renamed in place."""
    if not work_dir.exists():
        work_dir.parent.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(dir=work_dir.parent,
                                      prefix=f'.{work_dir.name}{_CLAIM}'))
        fd = os.open(fresh, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(fresh, work_dir)
        return fd
    fd = os.open(work_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise errors.BuildError(f'another giftwrap run is using {work_dir}',
                                where='--work-dir',
                                hint='give each run its own work directory')
    return fd


def remove_abandoned(work_root: Path, keep_marked: bool = True,
                     older_than: float | None = None) -> list[Path]:
    """Remove the work directories under ``work_root`` that no live run
    holds (their run was killed); not those kept with ``--keep-work``."""
    removed = []
    for path in _children(work_root):
        if keep_marked and (path / KEEP).exists():
            continue
        if _CLAIM in path.name and _newest(path) > time.time() - 60:
            continue  # being claimed (made, then locked) right now
        if older_than is not None and _newest(path) > time.time() - older_than:
            continue
        try:
            with _flock(path, fcntl.LOCK_EX | fcntl.LOCK_NB):
                shutil.rmtree(path)
        except OSError as exc:
            LOG.debug('%s is in use or cannot be removed: %s', path, exc)
            continue
        LOG.info('removed the work directory of a killed run: %s', path)
        removed.append(path)
    return removed


def _children(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.is_symlink())


def _newest(path: Path) -> float:
    """When ``path`` (a directory: it or a file directly in it) last
    changed: a fetch, a log line, a file of a run."""
    times = [_mtime(path)]
    if path.is_dir() and not path.is_symlink():
        times += [_mtime(c) for c in path.iterdir()]
    return max(times)


# -- what the cache holds ----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Usage:
    """One kind's share of the cache: a row of ``giftwrap cache list``
    (``removed`` and ``freed``: of ``giftwrap cache prune``)."""

    kind: str
    paths: tuple[Path, ...]
    size: int
    entries: int
    oldest: float | None


def usage(cache_dir: Path, kinds=None) -> list[Usage]:
    """What each kind (default: every kind) holds in ``cache_dir``."""
    rows = []
    for kind in (kinds or KINDS.values()):
        entries = _entries(cache_dir, kind)
        rows.append(Usage(
            kind.name, tuple(cache_dir / d for d in kind.dirs),
            sum(_size(e) for e in entries), len(entries),
            min((_age(e, kind) for e in entries), default=None)))
    return rows


def _entries(cache_dir: Path, kind: Kind) -> list[Path]:
    found: list[Path] = []
    for top in (cache_dir / d for d in kind.dirs):
        if not top.is_dir():
            continue
        if kind.unit == 'whole':
            found.append(top)
        elif kind.unit == 'dir':
            found += [p for p in _children(top)
                      if kind.name != 'git' or p.suffix == '.git']
        else:
            found += sorted(Path(root) / f for root, _, files in os.walk(top)
                            for f in files)
    return found


def _files(path: Path) -> list[os.stat_result]:
    """The stats of ``path`` and the files below it that are still there
    (a build may remove some meanwhile)."""
    paths = [path]
    if path.is_dir() and not path.is_symlink():
        paths += [Path(root) / f for root, _, files in os.walk(path)
                  for f in files]
    stats = []
    for each in paths:
        with contextlib.suppress(FileNotFoundError):
            stats.append(each.lstat())
    return stats


def _size(path: Path) -> int:
    stats = _files(path)
    return sum(s.st_size for s in (stats[1:] if path.is_dir() else stats))


def _age(path: Path, kind: Kind) -> float:
    if kind.unit == 'whole':
        return max((s.st_mtime for s in _files(path)), default=0.0)
    return _newest(path) if kind.unit == 'dir' else _mtime(path)


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


# -- pruning -----------------------------------------------------------------

def prune(cache_dir: Path, kinds, older_than: float | None,
          runner: Runner) -> list[tuple[Usage, Usage]]:
    """Remove the entries of ``kinds`` older than ``older_than`` seconds
    (None: all of them), once no build uses the cache.

    :returns: each kind's usage before and after.
    """
    if not cache_dir.is_dir():
        return []
    offline = sorted(k.name for k in kinds if k.needed_offline)
    if offline:
        LOG.warning('pruning %s: --offline builds and warm reuse need them '
                    'until an online build fetches them again',
                    ', '.join(offline))
    with _exclusive(cache_dir):
        done = []
        for kind in kinds:
            before, = usage(cache_dir, [kind])
            if before.entries:
                _prune_kind(cache_dir, kind, older_than, runner)
            done.append((before, usage(cache_dir, [kind])[0]))
        return done


@contextlib.contextmanager
def _exclusive(cache_dir: Path) -> Iterator[None]:
    fd = os.open(cache_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            LOG.warning('waiting for the builds using %s to finish', cache_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _prune_kind(cache_dir: Path, kind: Kind, older_than: float | None,
                runner: Runner) -> None:
    cutoff = time.time() - older_than if older_than is not None else None
    if kind.tool:
        pruned = _by_tool(cache_dir / kind.dirs[0], kind.tool,
                          cutoff is None, runner)
        if pruned and cutoff is not None:
            return  # uv prune: what uv no longer needs (uv keeps no ages)
        # Then by age, or (after a purge) what the layout of another
        # version left: a build's pip is its virtualenv's, not giftwrap's.
    if kind.name == 'work':
        remove_abandoned(cache_dir / 'work', keep_marked=False,
                         older_than=older_than)
        return
    for entry in _entries(cache_dir, kind):
        if cutoff is not None and _age(entry, kind) > cutoff:
            if kind.name == 'git':
                _repack(entry, runner)
            continue
        if kind.name == 'git':
            from giftwrap.fetch import git  # only when pruning mirrors
            with git.locked(entry):
                shutil.rmtree(entry, ignore_errors=True)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
    if kind.unit == 'file':
        # Not inside a kept entry of its own: a mirror's empty refs/tags.
        for top in (cache_dir / d for d in kind.dirs):
            _remove_empty_dirs(top)


def _repack(mirror: Path, runner: Runner) -> None:
    """A mirror that is kept gets one pack instead of one per fetch."""
    from giftwrap.fetch import git, repack  # only when pruning mirrors
    with git.locked(mirror):
        count = repack.repack(mirror, runner)
    if count:
        LOG.info('repacked the %d packs of %s into one', count, mirror)


def _by_tool(directory: Path, tool: str, everything: bool,
             runner: Runner) -> bool:
    """Let pip or uv prune their own cache; False: do it file by file
    (pip has no notion of age; the tool is not installed)."""
    if tool == 'uv' and find_tool('uv'):
        argv = [find_tool('uv'), 'cache', 'clean' if everything else 'prune',
                '--cache-dir', str(directory)]
    elif tool == 'pip' and everything and _has_pip():
        argv = [sys.executable, '-m', 'pip', '--cache-dir', str(directory),
                '--disable-pip-version-check', 'cache', 'purge']
    else:
        return False
    runner.run(argv, env=base_environment(), what=f'{tool} cache')
    return True


def _has_pip() -> bool:
    import importlib.util
    return importlib.util.find_spec('pip') is not None


def _remove_empty_dirs(top: Path) -> None:
    for root, _, _ in os.walk(top, topdown=False):
        if root != str(top):
            with contextlib.suppress(OSError):  # not empty
                os.rmdir(root)

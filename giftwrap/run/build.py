"""Running a build plan: one job per project, run by an executor.

A failure in one project's source, pins or build fails that project only,
and every project gets a line per builder in the summary.  The executor
(:mod:`giftwrap.executors`: this machine's thread pool by default) runs
the jobs; projects that succeed are merged into ``giftwrap.lock`` here.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from giftwrap.trust import lockfile
from giftwrap.util import atomic
from giftwrap.run.outcome import BUILT, FAILED, LOCKED, REUSED, Outcome, Progress
from giftwrap.plan.planner import Plan
from giftwrap.util.process import Runner

if TYPE_CHECKING:  # pragma: no cover
    from giftwrap.executors.base import Executor

LOG = logging.getLogger(__name__)

__all__ = ['BUILT', 'FAILED', 'LOCKED', 'REUSED', 'Options', 'Outcome', 'run']


@dataclasses.dataclass(frozen=True)
class Options:
    """How to run: directories, parallelism, network use, locks.

    :ivar lock: entries of a lock file to replay (``--lock``): locked
        commits and pins, no resolver.
    :ivar lock_only: resolve and lock, build nothing (``giftwrap lock``).
    """

    work_dir: Path
    cache_dir: Path
    log_dir: Path
    jobs: int = 1
    offline: bool = False
    lock: Mapping[str, lockfile.Entry] | None = None
    lock_path: Path | None = None
    lock_only: bool = False
    #: where to write the lock (default: giftwrap.lock in the output dir)
    lock_out: Path | None = None
    #: take byte-code from the cache (``--check-reproducible``'s second
    #: build compiles everything again, so it checks the compiler too)
    bytecode_cache: bool = True
    #: leave each project's work directory for inspection (``--keep-work``)
    keep_work: bool = False
    #: more find-links directories for pip and uv (``--wheelhouse``)
    wheelhouses: tuple[Path, ...] = ()
    #: with ``lock_only``: also download every file a build would install
    #: into the cache's wheelhouse (``giftwrap fetch``)
    fetch: bool = False


def run(plan: Plan, options: Options, progress: Progress,
        executor: 'Executor | None' = None) -> list[Outcome]:
    """Build every project of ``plan``; never raises for a project's failure.

    :param progress: called with ``(project, stage)`` as work advances.
    :param executor: runs the jobs (default: a local one, ``-j`` threads).
    :returns: the outcomes in manifest order.
    """
    with Runner.scope():
        return _run(plan, options, progress, executor)


def _run(plan: Plan, options: Options, progress: Progress,
         executor: 'Executor | None') -> list[Outcome]:
    for out in sorted({pp.project.output_dir for pp in plan.projects}):
        for stale in atomic.remove_stale(Path(out)):
            LOG.info('removed %s, left by a run that was killed', stale)
    if executor is None:
        from giftwrap.executors import base, local
        executor = local.LocalExecutor(base.ExecutorContext(plan, options,
                                                            progress))
    results = executor.run(plan.projects)
    _write_locks(plan, options, results)
    return [o for p in plan.projects for o in results[p.project.name][0]]


def _write_locks(plan, options, results) -> None:
    by_file: dict[Path, dict[str, lockfile.Entry]] = {}
    for pp in plan.projects:
        entries = results[pp.project.name][1]  # by project (or project@target)
        if entries:
            path = options.lock_out or pp.project.output_dir / lockfile.FILENAME
            by_file.setdefault(path, {}).update(entries)
    for path, entries in by_file.items():
        lockfile.merge(path, entries)

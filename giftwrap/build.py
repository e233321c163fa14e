"""Running a build plan: one job per project, in a bounded thread pool.

A failure in one project's source, pins or build fails that project only,
and every project gets a line per builder in the summary.  Threads only
wait for child processes; builders that declare themselves not
parallel-safe are serialized.  Projects that succeed are merged into
``giftwrap.lock``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
from pathlib import Path
from typing import Mapping

from giftwrap import atomic, lockfile
from giftwrap.job import (BUILT, FAILED, LOCKED, REUSED, Job, Outcome,
                          Progress)
from giftwrap.plan import Plan
from giftwrap.process import Runner
from giftwrap.sources.http import HttpClient

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


def run(plan: Plan, options: Options, progress: Progress) -> list[Outcome]:
    """Build every project of ``plan``; never raises for a project's failure.

    :param progress: called with ``(project, stage)`` as work advances.
    :returns: the outcomes in manifest order.
    """
    with Runner.scope():
        return _run(plan, options, progress)


def _run(plan: Plan, options: Options, progress: Progress) -> list[Outcome]:
    for out in sorted({pp.project.output_dir for pp in plan.projects}):
        for stale in atomic.remove_stale(Path(out)):
            LOG.info('removed %s, left by a run that was killed', stale)
    serial = {c.driver: threading.Lock() for p in plan.projects
              for c in p.builders if not c.driver.parallel_safe}
    http = HttpClient(options.cache_dir, offline=options.offline)
    results: dict[str, tuple[list[Outcome], dict[str, lockfile.Entry]]] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.jobs))
    try:
        futures = {pool.submit(Job(plan, p, options, http, serial,
                                   progress).run): p for p in plan.projects}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future].project.name] = future.result()
    except KeyboardInterrupt:
        # Stop every child and start no more; workers blocked on the network
        # are not waited for: the caller removes the work directory and
        # partial artifacts, then exits.
        Runner.terminate_all()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    http.close()
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

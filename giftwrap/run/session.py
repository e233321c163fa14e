"""A run as the operator asked for it: directories, parallelism, executor.

The command line is parsed into a :class:`Request`; everything from there
(the run's work and log directories, the open-file limit, the executor and
its options, the cache lock, cleaning up after Ctrl-C, the second build of
``--check-reproducible``, copying a wheelhouse out) happens here, so the
commands only parse, call and print.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from giftwrap import errors, plugins
from giftwrap.executors.base import Executor, ExecutorContext
from giftwrap.package.builder import Publisher
from giftwrap.plan.planner import Plan
from giftwrap.run import build, limits
from giftwrap.run.outcome import FAILED, Outcome, Progress
from giftwrap.trust import lockfile, reproducible
from giftwrap.util import atomic, cache
from giftwrap.venv import wheelhouse

LOG = logging.getLogger(__name__)

#: ``--check-reproducible``'s statuses of a compared artifact
DIFFERS, REPRODUCIBLE = 'differs', 'reproducible'


@dataclasses.dataclass(frozen=True)
class Request:
    """How the operator asked to run (the options every run command takes).

    :ivar jobs: projects at once; 1 when ``synchronous`` or the manifest's
        ``parallel_build`` is false.
    :ivar work_dir: scratch space (default: in the cache, per run).
    :ivar executor_options: the executor's options as given; checked
        against those it declares.
    """

    cache_dir: Path
    work_dir: Path | None = None
    jobs: int = 1
    synchronous: bool = False
    keep_work: bool = False
    offline: bool = False
    wheelhouses: tuple[Path, ...] = ()
    executor: str = 'local'
    executor_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def wheelhouse_dirs(given: Sequence[str]) -> tuple[Path, ...]:
    """The ``--wheelhouse`` directories, which must exist."""
    found = tuple(Path(d).resolve() for d in given)
    for path in found:
        if not path.is_dir():
            raise errors.GiftwrapError(
                f'the wheelhouse {path} is not a directory',
                where='--wheelhouse',
                hint='give a directory made by giftwrap fetch --wheelhouse')
    return found


def check_wheelhouses(request: Request, lock, lock_path: Path) -> None:
    """Before any work: the wheelhouses' files of the locked versions must
    have the lock's sha256s; offline, each must be somewhere."""
    houses = list(request.wheelhouses)
    if not houses and not request.offline:
        return
    houses.append(wheelhouse.cache_wheelhouse(request.cache_dir))
    missing = wheelhouse.check(houses, wheelhouse.locked(lock.values()),
                               where=str(lock_path))
    if missing and request.offline:
        # uv's own cache may hold them (installer: uv); pip says which it
        # cannot find.
        LOG.warning('offline, and no wheelhouse has %s', ', '.join(missing))


def run(plan: Plan, request: Request, progress: Progress,
        **extra: Any) -> list[Outcome]:
    """Run ``plan`` as ``request`` asks; :class:`build.Options` fields may
    be given in ``extra`` (``lock``, ``lock_only``...).

    :returns: the outcomes in manifest order.
    """
    run_id = time.strftime('%Y%m%d-%H%M%S') + f'-{os.getpid()}'
    work_dir = (request.work_dir or request.cache_dir / 'work' / run_id).resolve()
    parallel = plan.manifest.settings.get('parallel_build', True)
    jobs = 1 if request.synchronous or not parallel else max(1, request.jobs)
    limits.ensure(jobs)
    options = build.Options(
        work_dir=work_dir, cache_dir=request.cache_dir,
        log_dir=request.cache_dir / 'logs' / run_id, jobs=jobs,
        offline=request.offline, keep_work=request.keep_work,
        **{'wheelhouses': request.wheelhouses, **extra})
    try:
        with cache.in_use(request.cache_dir, work_dir,
                          keep=request.keep_work), \
                executor(plan, request, options, progress) as chosen:
            chosen.check()
            return build.run(plan, options, progress, chosen)
    except KeyboardInterrupt:
        _remove_partial_artifacts(plan)
        raise
    finally:
        if not request.keep_work:
            shutil.rmtree(work_dir, ignore_errors=True)


def executor(plan: Plan, request: Request, options: build.Options,
             progress: Progress) -> Executor:
    """The chosen executor, its options checked (before any work)."""
    driver = plugins.load(plugins.EXECUTORS, request.executor,
                          where='--executor')
    settings = plugins.validate_options(
        driver.options, dict(request.executor_options),
        driver_name=request.executor, where='--executor')
    driver.check_options(settings)
    return driver(ExecutorContext(plan, options, progress, settings))


def _remove_partial_artifacts(plan: Plan) -> None:
    """Remove what an interrupted publish left in the output directories:
    this run's staged artifacts, and staging files of runs that died."""
    Publisher.discard_all()
    for out in {pp.project.output_dir for pp in plan.projects}:
        atomic.remove_stale(out)


def exit_status(outcomes: Sequence[Outcome]) -> int:
    """The first failure's exit status (each error class has its own)."""
    failed = [o for o in outcomes if o.status in (FAILED, DIFFERS)]
    if not failed:
        return 0
    return failed[0].error.exit_code if failed[0].error else 1


def check_reproducible(plan: Plan, request: Request,
                       outcomes: Sequence[Outcome],
                       replan: Callable[[str], Plan],
                       progress: Progress) -> list[Outcome]:
    """Build again elsewhere from the lock just written; compare each
    artifact with its rebuild.

    :param replan: the same plan with another output directory.
    :returns: ``outcomes`` with each compared artifact's status
        ``reproducible`` or ``differs`` (and the first difference).
    """
    # output_dir is a setting (or -o): one for every project.
    out = plan.projects[0].project.output_dir
    lock_path = out / lockfile.FILENAME
    with tempfile.TemporaryDirectory(prefix='giftwrap-again-') as again:
        second = replan(again)
        run(second, dataclasses.replace(request, work_dir=None), progress,
            lock=lockfile.read(lock_path), lock_path=lock_path,
            bytecode_cache=False)
        return [_compared(o, out, Path(again)) for o in outcomes]


def _compared(outcome: Outcome, out: Path, again: Path) -> Outcome:
    built = Path(outcome.artifact) if outcome.artifact else None
    # a target's artifacts are in subdirectories: the same relative path
    if built is None or not built.is_file() or out not in built.parents:
        return outcome
    rebuilt = again / built.relative_to(out)
    if not rebuilt.is_file():
        return outcome
    difference = reproducible.first_difference(built, rebuilt)
    return dataclasses.replace(
        outcome, status=DIFFERS if difference else REPRODUCIBLE,
        message=difference or 'byte-identical when rebuilt', details='',
        hint='', log='',
        error=errors.BuildError(difference) if difference else None)


def export_wheelhouse(plan: Plan, locks: Sequence[Path], cache_dir: Path,
                      dest: Path) -> None:
    """Copy the files the locks name (this run's projects only: a lock may
    hold others) and the lock into ``dest``, to carry to another machine."""
    dest.mkdir(parents=True, exist_ok=True)
    names = {pp.project.name for pp in plan.projects}
    for path in locks:
        entries = [e for key, e in lockfile.read(path).items()
                   if key.split('@', 1)[0] in names]
        copied = wheelhouse.export(cache_dir, dest, wheelhouse.locked(entries))
        shutil.copyfile(path, dest / lockfile.FILENAME)
        LOG.info('%d files of %s in %s', len(copied), path, dest)

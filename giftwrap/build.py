"""Running a build plan: clone, resolve, virtualenv, package, per project.

Each project runs as one task: a failure in its source, pins or build fails
that project only, and every project gets a line per builder in the
summary.  Projects run in a bounded thread pool (threads only wait for child
processes); builders that declare themselves not parallel-safe are
serialized.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import shutil
import threading
from pathlib import Path
from typing import Callable

from giftwrap import errors, package, venv
from giftwrap.builders.base import BuildContext
from giftwrap.plan import Plan, ProjectPlan
from giftwrap.process import Runner
from giftwrap.sources import git
from giftwrap.sources.base import ResolveContext
from giftwrap.sources.http import HttpClient

LOG = logging.getLogger(__name__)

BUILT, FAILED, SKIPPED = 'built', 'failed', 'skipped'


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One row of the summary: a project and builder, and what happened."""

    project: str
    builder: str
    status: str
    artifact: str = ''
    message: str = ''
    error: errors.GiftwrapError | None = dataclasses.field(
        default=None, compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class Options:
    """How to run: directories, parallelism, network use."""

    work_dir: Path
    cache_dir: Path
    log_dir: Path
    jobs: int = 1
    offline: bool = False


Progress = Callable[[str, str], None]


def run(plan: Plan, options: Options, progress: Progress) -> list[Outcome]:
    """Build every project of ``plan``; never raises for a project's failure.

    :param progress: called with ``(project, stage)`` as work advances.
    :returns: the outcomes in manifest order.
    """
    serial = {c.driver: threading.Lock() for p in plan.projects
              for c in p.builders if not c.driver.parallel_safe}
    http = HttpClient(options.cache_dir, offline=options.offline)
    results: dict[str, list[Outcome]] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.jobs))
    try:
        futures = {pool.submit(_project_task, plan, p, options, http, serial,
                               progress): p.project.name
                   for p in plan.projects}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
    except KeyboardInterrupt:
        # Stop children so workers unwind (and clean up) promptly.
        Runner.terminate_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        http.close()
    return [o for p in plan.projects for o in results.get(p.project.name, [])]


def _project_task(plan: Plan, pp: ProjectPlan, options: Options, http,
                  serial, progress) -> list[Outcome]:
    name = pp.project.name
    work = options.work_dir / name
    log_file = options.log_dir / f'{name}.log'
    runner = Runner(log_file)
    try:
        return _build_project(plan, pp, options, http, serial, progress,
                              runner, work)
    except errors.GiftwrapError as exc:
        LOG.debug('project %s failed', name, exc_info=True)
        if exc.hint is None and log_file.exists():
            exc.hint = f'the full log is {log_file}'
        return [Outcome(name, c.name, FAILED, message=str(exc), error=exc)
                for c in pp.builders]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_project(plan, pp, options, http, serial, progress, runner, work):
    name = pp.project.name
    progress(name, 'clone')
    checkout = _stage('clone', name, lambda: git.fetch(
        pp.project.giturl, pp.project.gitref, work / 'src',
        depth=pp.project.gitdepth, cache_dir=options.cache_dir,
        runner=runner))
    git.check_git_cli(checkout)
    project = _rerender(plan, pp, checkout)
    progress(name, 'resolve')
    resolver = pp.resolver.driver(ResolveContext(
        project=project, checkout=checkout, interpreter=pp.interpreter,
        options=pp.resolver.options, work_dir=work / 'resolve',
        cache_dir=options.cache_dir / 'resolvers' / pp.resolver.name,
        runner=runner, http=http, offline=options.offline))
    pins = _stage('resolve', name, resolver.resolve)
    progress(name, 'virtualenv')
    tree, report = _stage('virtualenv', name, lambda: venv.build(
        interpreter=pp.interpreter, stage_root=work / 'root',
        install_path=project.install_path, source_dir=checkout.path,
        pins=pins, pip_dependencies=project.pip_dependencies,
        postinstall_dependencies=project.postinstall_dependencies,
        include_config=project.include_config, work_dir=work / 'venv',
        cache_dir=options.cache_dir, runner=runner,
        forbidden=(options.work_dir, options.cache_dir)))
    description = package.describe(project, tree, pp.interpreter, checkout)
    outcomes = []
    for choice in pp.builders:
        progress(name, f'package ({choice.name})')
        outcomes.append(_package(project, description, pp, choice, checkout,
                                 pins, tree, work, runner, serial, report))
    return outcomes


def _stage(stage: str, name: str, action):
    try:
        return action()
    except errors.GiftwrapError as exc:
        place = f'project {name} ({stage})'
        exc.where = f'{place}: {exc.where}' if exc.where else place
        raise


def _rerender(plan: Plan, pp: ProjectPlan, checkout):
    """The project's values with the real commit (for source templates)."""
    if not pp.project.source_dependent:
        return pp.project
    project = plan.manifest.render(pp.project.name, checkout.template_values())
    # Keep the plan's choices (-t overrides the manifest's builders).
    return dataclasses.replace(project, builders=pp.project.builders)


def _package(project, description, pp, choice, checkout, pins, tree, work,
             runner, serial, report) -> Outcome:
    context = BuildContext(
        project=project, package=description, interpreter=pp.interpreter,
        checkout=checkout, pins=pins, options=choice.options,
        work_dir=work / 'build' / choice.name, output_dir=project.output_dir,
        runner=runner)
    context.work_dir.mkdir(parents=True, exist_ok=True)
    lock = serial.get(choice.driver)
    try:
        if lock:
            with lock:
                artifact = choice.driver(context).build(tree)
        else:
            artifact = choice.driver(context).build(tree)
    except errors.GiftwrapError as exc:
        exc.located(f'project {project.name} (package with {choice.name})')
        return Outcome(project.name, choice.name, FAILED, message=str(exc),
                       error=exc)
    note = ''
    if report.unpinned:
        note = 'not pinned by the resolver: ' + ', '.join(
            f'{n}=={v}' for n, v in sorted(report.unpinned.items()))
    return Outcome(project.name, choice.name, BUILT,
                   artifact=str(artifact.path or artifact.name), message=note)

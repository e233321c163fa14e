"""Running a build plan: clone, resolve, virtualenv, package, per project.

Each project runs as one task: a failure in its source, pins or build fails
that project only, and every project gets a line per builder in the
summary.  Projects run in a bounded thread pool (threads only wait for child
processes); builders that declare themselves not parallel-safe are
serialized.  Projects that succeed are merged into ``giftwrap.lock``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import shutil
import threading
import traceback
from pathlib import Path
from typing import Callable, Mapping

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from giftwrap import (errors, lockfile, package, patches, reuse, strip,
                      sysdeps, venv)
from giftwrap.builders.base import ArtifactExists, BuildContext
from giftwrap.plan import Plan, ProjectPlan
from giftwrap.process import Runner, system_hint
from giftwrap.sources import git
from giftwrap.sources.base import Pin, Pins, ResolveContext
from giftwrap.sources.http import HttpClient

LOG = logging.getLogger(__name__)

BUILT, FAILED, LOCKED, REUSED = 'built', 'failed', 'locked', 'reused'


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


Progress = Callable[[str, str], None]


def run(plan: Plan, options: Options, progress: Progress) -> list[Outcome]:
    """Build every project of ``plan``; never raises for a project's failure.

    :param progress: called with ``(project, stage)`` as work advances.
    :returns: the outcomes in manifest order.
    """
    serial = {c.driver: threading.Lock() for p in plan.projects
              for c in p.builders if not c.driver.parallel_safe}
    http = HttpClient(options.cache_dir, offline=options.offline)
    results: dict[str, tuple[list[Outcome], lockfile.Entry | None]] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.jobs))
    try:
        futures = {pool.submit(_Job(plan, p, options, http, serial,
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
        entry = results[pp.project.name][1]
        if entry is not None:
            path = options.lock_out or pp.project.output_dir / lockfile.FILENAME
            by_file.setdefault(path, {})[pp.project.name] = entry
    for path, entries in by_file.items():
        lockfile.merge(path, entries)


@dataclasses.dataclass
class _Job:
    """One project's build, from clone to artifacts."""

    plan: Plan
    pp: ProjectPlan
    options: Options
    http: HttpClient
    serial: Mapping[type, threading.Lock]
    progress: Progress

    @property
    def name(self) -> str:
        return self.pp.project.name

    def run(self) -> tuple[list[Outcome], lockfile.Entry | None]:
        self.work = self.options.work_dir / self.name
        self.log_file = self.options.log_dir / f'{self.name}.log'
        self.runner = Runner(self.log_file)
        try:
            return self._run()
        except errors.GiftwrapError as exc:
            LOG.debug('project %s failed', self.name, exc_info=True)
            return self._failed(exc), None
        except OSError as exc:  # a full disk, a resource limit...
            LOG.debug('project %s: system error', self.name, exc_info=True)
            place = f': {exc.filename}' if exc.filename else ''
            return self._failed(errors.BuildError(
                f'{exc.strerror or exc}{place}', where=f'project {self.name}',
                hint=system_hint(exc))), None
        except Exception as exc:  # a bug must fail this project, not the run
            return self._failed(self._internal(exc)), None
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def _failed(self, exc: errors.GiftwrapError) -> list[Outcome]:
        builders = ['lock'] if self.options.lock_only else [
            c.name for c in self.pp.builders]
        message = str(exc)
        if self.log_file.exists() and str(self.log_file) not in message:
            message += f'\n  log: {self.log_file}'
        return [Outcome(self.name, b, FAILED, message=message, error=exc)
                for b in builders]

    def _internal(self, exc: Exception) -> errors.GiftwrapError:
        LOG.debug('project %s: internal error', self.name, exc_info=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, 'a') as log:
            log.write(traceback.format_exc())
        return errors.GiftwrapError(
            f'internal error: {type(exc).__name__}: {exc}',
            where=f'project {self.name}',
            hint=f'this is a bug in giftwrap or a driver; the traceback is '
                 f'in {self.log_file}')

    def _run(self):
        locked = self._locked_entry()
        checkout = self._stage('clone', lambda: git.fetch(
            self.pp.project.giturl,
            locked.commit if locked else self.pp.project.gitref,
            self.work / 'src', depth=None if locked else self.pp.project.gitdepth,
            cache_dir=self.options.cache_dir, runner=self.runner))
        git.check_git_cli(checkout)
        applied = self._stage('patch', lambda: self._patch(checkout, locked))
        project = self._rerender(checkout, applied)
        if locked:  # the lock's pins already have the overrides
            pins, overrides = (locked.to_pins(self.options.lock_path),
                               dict(locked.overrides))
        else:
            pins, overrides = _override(self._stage(
                'resolve', lambda: self._resolve(project, checkout)), project)
        if self.options.lock_only:
            return self._lock_only(project, checkout, pins, applied,
                                   overrides)
        keys = {c.name: reuse.inputs(project, checkout, pins,
                                     self.pp.interpreter, c.name, c.options,
                                     extra={'patches': [p.sha256 for p in
                                                        applied]})
                for c in self.pp.builders}
        reused = {c.name: path for c in self.pp.builders if (
            path := reuse.reusable(project.output_dir, self.name, c.name,
                                   keys[c.name]))}
        if len(reused) == len(self.pp.builders):
            self.progress(self.name, 'unchanged: reusing the artifacts')
            return [_reused(self.name, c.name, reused[c.name])
                    for c in self.pp.builders], None
        bindep = self._stage('build dependencies',
                             lambda: self._bindep(project, checkout))
        self.progress(self.name, 'virtualenv')
        tree, report = self._stage('virtualenv', lambda: venv.build(
            interpreter=self.pp.interpreter, stage_root=self.work / 'root',
            install_path=project.install_path, source_dir=checkout.path,
            pins=pins, extras=project.extras,
            pip_dependencies=project.pip_dependencies,
            postinstall_dependencies=project.postinstall_dependencies,
            include_config=project.include_config,
            work_dir=self.work / 'venv', cache_dir=self.options.cache_dir,
            runner=self.runner, require_hashes=locked is not None,
            forbidden=(self.options.work_dir, self.options.cache_dir)))
        unpinned = {n: v for n, v in report.unpinned.items() if n not in
                    {canonicalize_name(e) for e in project.pip_exclude}}
        if pins.complete and unpinned:
            raise errors.ResolveError(
                'installed without a pin from ' + pins.provenance.get(
                    'resolver', self.pp.resolver.name) + ': ' + ', '.join(
                    f'{n}=={v}' for n, v in unpinned.items()),
                where=f'project {self.name} (virtualenv)',
                hint='the tested pins do not cover these dependencies; add '
                     'them with pip_dependencies at a chosen version, or use '
                     'a resolver whose pins cover them')
        self._stage('strip', lambda: strip.apply(tree.venv, project.name,
                                                 project.strip))
        discovered = self._stage('system dependencies', lambda: sysdeps.discover(
            tree.venv, self.runner) if tree.native else None)
        description = package.describe(project, tree, self.pp.interpreter,
                                       checkout, bindep=bindep,
                                       discovered=discovered)
        note = _notes(report, applied, overrides)
        outcomes = [_reused(self.name, c.name, reused[c.name])
                    if c.name in reused else
                    self._package(project, description, c, checkout, pins,
                                  tree, note, keys[c.name])
                    for c in self.pp.builders]
        ok = all(o.status in (BUILT, REUSED) for o in outcomes)
        entry = dataclasses.replace(
            lockfile.entry_for(project, checkout, pins, report,
                               self.pp.interpreter),
            overrides=overrides, patches=tuple(p.to_json() for p in applied)
        ) if ok else None
        return outcomes, entry

    def _patch(self, checkout, locked) -> tuple[patches.Patch, ...]:
        """Apply the manifest's patches to the fresh checkout; replaying a
        lock, they must be the locked ones."""
        found = patches.find(self.pp.project)
        if locked and [p.to_json() for p in found] != [
                dict(p) for p in locked.patches]:
            raise errors.SourceError(
                'the manifest\'s patches are not those of the lock: ' +
                (', '.join(p['file'] for p in locked.patches) or 'none'),
                where=self.pp.project.where_key('patches'),
                hint='restore the locked patch files, or build without '
                     '--lock (and lock again)')
        if found:
            self.progress(self.name, 'patch')
            patches.apply(found, checkout.path, self.runner,
                          where=self.pp.project.where_key('patches'))
        return found

    def _bindep(self, project, checkout) -> sysdeps.Bindep | None:
        """The project's bindep.txt, its build-only entries checked here."""
        found = sysdeps.read_bindep(checkout.path)
        sysdeps.check_build_host(found, self.runner,
                                 profiles=project.bindep_profiles)
        return found

    def _locked_entry(self) -> lockfile.Entry | None:
        if self.options.lock is None:
            return None
        entry = self.options.lock.get(self.name)
        if entry is None:
            raise errors.ResolveError(
                f'project {self.name!r} is not in the lock file',
                where=str(self.options.lock_path),
                hint='lock it first (giftwrap lock -m MANIFEST -p NAME) or '
                     'build it without --lock')
        return entry

    def _resolve(self, project, checkout) -> Pins:
        self.progress(self.name, 'resolve')
        choice = self.pp.resolver
        resolver = choice.driver(ResolveContext(
            project=project, checkout=checkout, interpreter=self.pp.interpreter,
            options=choice.options, work_dir=self.work / 'resolve',
            cache_dir=self.options.cache_dir / 'resolvers' / choice.name,
            runner=self.runner, http=self.http, offline=self.options.offline))
        return resolver.resolve()

    def _lock_only(self, project, checkout, pins, applied, overrides):
        self.progress(self.name, 'lock')
        report = self._stage('lock', lambda: venv.resolve_closure(
            interpreter=self.pp.interpreter, source_dir=checkout.path,
            pins=pins, extras=project.extras,
            pip_dependencies=project.pip_dependencies,
            postinstall_dependencies=project.postinstall_dependencies,
            work_dir=self.work / 'venv', cache_dir=self.options.cache_dir,
            runner=self.runner))
        entry = dataclasses.replace(
            lockfile.entry_for(project, checkout, pins, report,
                               self.pp.interpreter),
            overrides=overrides, patches=tuple(p.to_json() for p in applied))
        note = _notes(report, applied, overrides)
        return [Outcome(self.name, 'lock', LOCKED,
                        artifact=f'{len(entry.pins)} pins at '
                                 f'{checkout.commit_short}',
                        message=note)], entry

    def _stage(self, stage: str, action):
        if stage == 'clone':
            self.progress(self.name, stage)
        try:
            return action()
        except errors.GiftwrapError as exc:
            place = f'project {self.name} ({stage})'
            exc.where = f'{place}: {exc.where}' if exc.where else place
            raise

    def _rerender(self, checkout, applied):
        """The project's values with the real commit and patches (for
        source templates)."""
        if not self.pp.project.source_dependent:
            return self.pp.project
        project = self.plan.manifest.render(
            self.name, {**checkout.template_values(),
                        **patches.template_values(applied)})
        # Keep the plan's choices (-t overrides the manifest's builders).
        return dataclasses.replace(project, builders=self.pp.project.builders)

    def _package(self, project, description, choice, checkout, pins, tree,
                 note, key) -> Outcome:
        self.progress(self.name, f'package ({choice.name})')
        context = BuildContext(
            project=project, package=description,
            interpreter=self.pp.interpreter, checkout=checkout, pins=pins,
            options=choice.options,
            work_dir=self.work / 'build' / choice.name,
            output_dir=project.output_dir, runner=self.runner)
        context.work_dir.mkdir(parents=True, exist_ok=True)
        lock = self.serial.get(choice.driver)
        try:
            if lock:
                with lock:
                    artifact = choice.driver(context).build(tree)
            else:
                artifact = choice.driver(context).build(tree)
        except ArtifactExists as exists:
            exc = ArtifactExists(exists.path, reuse.changed(
                project.output_dir, exists.path.name, key))
            exc.where = f'project {project.name} (package with {choice.name})'
            return Outcome(project.name, choice.name, FAILED,
                           message=str(exc), error=exc)
        except errors.GiftwrapError as exc:
            place = f'project {project.name} (package with {choice.name})'
            exc.where = f'{place}: {exc.where}' if exc.where else place
            return Outcome(project.name, choice.name, FAILED,
                           message=f'{exc}\n  log: {self.log_file}', error=exc)
        if artifact.path is not None:
            reuse.record(project.output_dir, project.name, choice.name, key,
                         artifact.path)
        return Outcome(project.name, choice.name, BUILT,
                       artifact=str(artifact.path or artifact.name),
                       message=note)


def _reused(project: str, builder: str, path: Path) -> Outcome:
    return Outcome(project, builder, REUSED, artifact=str(path),
                   message='inputs unchanged since it was built')


def _unpinned_note(report) -> str:
    if not report.unpinned:
        return ''
    return 'not pinned by the resolver: ' + ', '.join(
        f'{n}=={v}' for n, v in sorted(report.unpinned.items()))


def _notes(report, applied, overrides) -> str:
    """The summary's message: patches, overrides, unpinned distributions."""
    notes = [patches.summary(applied)] if applied else []
    changed = overrides.get('pip_overrides', {})
    if changed:
        notes.append('pip_overrides: ' + ', '.join(
            f'{n}=={c["version"]} (was {c["replaced"] or "not pinned"})'
            for n, c in sorted(changed.items())))
    removed = overrides.get('pip_exclude', {})
    if removed:
        notes.append('pip_exclude: ' + ', '.join(
            f'{n} (was {v or "not pinned"})' for n, v in sorted(
                removed.items())))
    notes.append(_unpinned_note(report))
    return '; '.join(n for n in notes if n)


def _override(pins: Pins, project) -> tuple[Pins, dict]:
    """The resolver's pins with ``pip_exclude`` removed and
    ``pip_overrides`` replacing (or adding) versions.

    :returns: the pins and what changed, for the lock and the summary.
    :raises giftwrap.errors.ManifestError: an override is no exact version.
    """
    for name, version in project.pip_overrides.items():
        try:
            Version(version)
        except InvalidVersion:
            raise errors.ManifestError(
                f'pip_overrides: {version!r} is not a version of {name}',
                where=project.where_key('pip_overrides'),
                hint='give an exact version, e.g. "9.1.0"') from None

    def was(name):
        pin = pins.pins.get(canonicalize_name(name))
        return pin.version if pin else None

    changes = {}
    if project.pip_exclude:
        changes['pip_exclude'] = {n: was(n) for n in project.pip_exclude}
    if project.pip_overrides:
        changes['pip_overrides'] = {
            n: {'version': v, 'replaced': was(n)}
            for n, v in project.pip_overrides.items()}
    if not changes:
        return pins, changes
    kept = pins.without(*project.pip_exclude).pins.values()
    return Pins.of([*kept, *(Pin(n, v) for n, v in
                             project.pip_overrides.items())],
                   pins.provenance, pins.requirements,
                   complete=pins.complete), changes

"""One project's build, from clone to artifacts.

Stages, each named in progress lines and errors: clone, patch, resolve,
build dependencies, virtualenv, strip, system dependencies, package.  A
failure ends this project only; :mod:`giftwrap.run.build` runs the jobs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from packaging.utils import canonicalize_name

from giftwrap import errors
from giftwrap.fetch import patches
from giftwrap.venv import wheelhouse
from giftwrap.package import description as package, sysdeps
from giftwrap.plan import targets
from giftwrap.resolve import overrides
from giftwrap.run import reuse
from giftwrap.trust import lockfile
from giftwrap.venv import interpreter, strip, syspython, build as venv
from giftwrap.package.builder import ArtifactExists, BuildContext, Publisher
from giftwrap.util.process import Runner, system_hint
from giftwrap.projectinfo import ProjectInfo
from giftwrap.fetch import git
from giftwrap.resolve.base import Checkout, Pins, ResolveContext

if TYPE_CHECKING:  # pragma: no cover
    from giftwrap.run.build import Options
    from giftwrap.venv.interpreter import Interpreter
    from giftwrap.manifest.loader import Project
    from giftwrap.plan.planner import Plan, ProjectPlan
    from giftwrap.resolve.http import HttpClient

LOG = logging.getLogger(__name__)

BUILT, FAILED, LOCKED, REUSED = 'built', 'failed', 'locked', 'reused'

Progress = Callable[[str, str], None]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One row of the summary: a project and builder, and what happened."""

    project: str
    builder: str
    status: str
    artifact: str = ''
    #: one line; a failure's says what failed and in which stage
    message: str = ''
    #: a failure's further lines: the failing command's output tail
    details: str = ''
    #: what to do about a failure
    hint: str = ''
    #: the project's log file, when a failure wrote one
    log: str = ''
    error: errors.GiftwrapError | None = dataclasses.field(
        default=None, compare=False, repr=False)
    #: the executor's worker that built it ('' on this machine)
    worker: str = dataclasses.field(default='', compare=False)

    @classmethod
    def failed(cls, project: str, builder: str, exc: errors.GiftwrapError,
               log_file: Path | None = None) -> 'Outcome':
        """The summary's row of ``exc``: its first line as the message."""
        first, _, rest = exc.what.partition('\n')
        details = [rest.strip('\n')] if rest.strip() else []
        if exc.output and exc.output.strip():
            details.append(exc.output.rstrip())
        log = str(log_file) if log_file is not None and \
            log_file.exists() else ''
        return cls(project, builder, FAILED,
                   message=f'{exc.where}: {first}' if exc.where else first,
                   details='\n'.join(details), hint=exc.hint or '', log=log,
                   error=exc)


@dataclasses.dataclass(frozen=True)
class Source:
    """The checkout, patched, and the project rendered with its commit."""

    project: 'Project'
    checkout: Checkout
    applied: tuple[patches.Patch, ...]
    epoch: int


@dataclasses.dataclass(frozen=True)
class Variant:
    """Where one set of artifacts is built: this machine or a target.

    :ivar key: the name in the summary, lock and artifact index
        (``nova``, or ``nova@bookworm`` for a target).
    :ivar runner: runs the virtualenv stage (in the target's container).
    """

    target: 'targets.Target | None'
    key: str
    interpreter: 'Interpreter'
    runner: Runner
    output_dir: Path
    builders: tuple
    work: Path


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What the project is built from, once cloned and resolved."""

    project: 'Project'
    checkout: Checkout
    applied: tuple[patches.Patch, ...]
    pins: Pins
    changes: Mapping[str, object]
    locked: lockfile.Entry | None
    source_date_epoch: int


@dataclasses.dataclass(frozen=True)
class Built:
    """The staged virtualenv and everything packaging needs to know."""

    tree: object
    report: venv.InstallReport
    description: package.PackageDescription
    note: str
    #: distribution packages whose modules the virtualenv links
    system_python: tuple[syspython.SystemPackage, ...] = ()


@dataclasses.dataclass
class Job:
    """One project's build (a callable for the thread pool)."""

    plan: 'Plan'
    pp: 'ProjectPlan'
    options: 'Options'
    http: 'HttpClient'
    serial: Mapping[type, threading.Lock]
    progress: Progress
    #: the mirror was brought up to date by :meth:`_unchanged`
    refreshed: bool = False
    #: why :meth:`_unchanged` could not update the mirror: the clone's error
    fetch_error: errors.SourceError | None = None
    #: (commit, builder -> memo) of this run, for :func:`reuse.remember`
    memo: tuple[str, dict[str, str]] | None = None
    #: look for unchanged inputs first (an executor's worker does not: its
    #: client did, and hands it the memo)
    check_unchanged: bool = True

    @property
    def name(self) -> str:
        return self.pp.project.name

    def _begin(self) -> None:
        self.work = self.options.work_dir / self.name
        self.log_file = self.options.log_dir / f'{self.name}.log'
        # Every installer this job starts (here or in a target's container)
        # finds the wheelhouses, and offline, nothing else.
        self.runner = Runner(self.log_file, extra_env=wheelhouse.environment(
            self.options.cache_dir, self.options.wheelhouses,
            offline=self.options.offline))

    def reused(self) -> tuple[list[Outcome], dict] | None:
        """The outcomes of a project whose inputs did not change, reusing
        its artifacts (the check :meth:`run` makes first), else None: an
        executor that sends jobs elsewhere need not send this one."""
        if self.pp.targets or self.options.lock_only:
            return None
        self._begin()
        return self._stage('reuse check', self._unchanged)

    def run(self) -> tuple[list[Outcome], dict[str, lockfile.Entry]]:
        self._begin()
        try:
            return self._run()
        except errors.GiftwrapError as exc:
            LOG.debug('project %s failed', self.name, exc_info=True)
            return self._failed(exc), {}
        except OSError as exc:  # a full disk, a resource limit...
            LOG.debug('project %s: system error', self.name, exc_info=True)
            place = f': {exc.filename}' if exc.filename else ''
            return self._failed(errors.BuildError(
                f'{exc.strerror or exc}{place}', where=f'project {self.name}',
                hint=system_hint(exc))), {}
        except Exception as exc:  # a bug must fail this project, not the run
            return self._failed(self._internal(exc)), {}
        finally:
            if not self.options.keep_work:
                shutil.rmtree(self.work, ignore_errors=True)

    def _failed(self, exc: errors.GiftwrapError) -> list[Outcome]:
        builders = ['lock'] if self.options.lock_only else [
            c.name for c in self.pp.builders]
        return [Outcome.failed(self.name, b, exc, self.log_file)
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

    def _stage(self, stage: str, action):
        started = time.monotonic()
        try:
            return action()
        except errors.GiftwrapError as exc:
            place = f'project {self.name} ({stage})'
            exc.where = f'{place}: {exc.where}' if exc.where else place
            raise
        finally:
            # Where the time went, for whoever reads the log.
            self.runner.note(f'== {stage}: '
                             f'{time.monotonic() - started:.2f} s')

    # -- the stages -------------------------------------------------------

    def _run(self):
        if not self.pp.targets and not self.options.lock_only and \
                self.check_unchanged:
            unchanged = self._stage('reuse check', self._unchanged)
            if unchanged is not None:
                return unchanged
        source = self._source()
        if not self.pp.targets:
            host = Variant(None, self.name, self.pp.interpreter, self.runner,
                           source.project.output_dir, self.pp.builders,
                           self.work)
            return self._variant(source, host)
        outcomes, entries = [], {}
        for target in self.pp.targets:
            self.progress(self.name, f'target {target.name}')
            with targets.session(target, (self.options.work_dir,
                                          self.options.cache_dir,
                                          *self.options.wheelhouses),
                                 self.log_file,
                                 offline=self.options.offline) as runner:
                runner.extra_env.update(self.runner.extra_env)
                variant = self._stage(f'target {target.name}',
                                      lambda: self._target(source, target,
                                                           runner))
                found, entry = self._variant(source, variant)
            outcomes += found
            entries.update(entry)
        return outcomes, entries

    def _target(self, source, target, runner) -> 'Variant':
        """What building for ``target`` needs, checked in its container."""
        for warning in targets.check_image(target, runner):
            LOG.warning('%s: %s', self.name, warning)
        python = interpreter.resolve(target.python, runner)
        builders = tuple(c for c in self.pp.builders
                         if c.driver.package_format in (None, target.format))
        return Variant(target, f'{self.name}@{target.name}', python, runner,
                       source.project.output_dir / target.name, builders,
                       self.work / target.name)

    def _variant(self, source: 'Source', variant: 'Variant'):
        """Pins, virtualenv and artifacts for one target (or the host)."""
        inputs = self._inputs(source, variant)
        if self.options.lock_only:
            return self._lock_only(inputs, variant)
        extra = {'patches': [p.sha256 for p in inputs.applied],
                 'target': variant.target}
        keys = {c.name: reuse.inputs(inputs.project, inputs.checkout,
                                     inputs.pins, variant.interpreter,
                                     c.name, c.options, extra=extra)
                for c in variant.builders}
        reused = {c.name: path for c in variant.builders if (
            path := reuse.reusable(variant.output_dir, variant.key, c.name,
                                   keys[c.name]))}
        if len(reused) == len(variant.builders):
            self.progress(variant.key, 'unchanged: reusing the artifacts')
            self._remember(variant, inputs.checkout, keys)
            return [_reused(variant.key, c.name, reused[c.name])
                    for c in variant.builders], {}
        built = self._build(inputs, variant)
        outcomes = [_reused(variant.key, c.name, reused[c.name])
                    if c.name in reused else
                    self._package(inputs, built, c, keys[c.name], variant)
                    for c in variant.builders]
        ok = all(o.status in (BUILT, REUSED) for o in outcomes)
        if ok:
            self._remember(variant, inputs.checkout, keys)
        return outcomes, ({variant.key: self._lock_entry(
            inputs, built.report, variant, built.system_python)}
                          if ok else {})

    def _unchanged(self):
        """Reuse the artifacts before any checkout, if nothing changed.

        The commit the ref names now (and the tags), the manifest's values,
        the patches, the resolver's fingerprint and the lock entry make a
        memo per builder, recorded beside each artifact built or reused;
        the same memo again means the same inputs, so the checkout, the
        resolution and the full key are not needed.  None: build as usual.
        """
        project, locked = self.pp.project, self._locked_entry()
        try:
            state = git.remote_state(
                project.giturl, locked.commit if locked else project.gitref,
                self.options.cache_dir, runner=self.runner,
                offline=self.options.offline)
            fingerprint = (reuse.key(dataclasses.asdict(locked)) if locked
                           else self._fingerprint())
            patch_digest = patches.digest(patches.find(project))
        except errors.SourceError as exc:
            # Fetching again would ask the same server (or read the same
            # broken repository) twice, and a half-made mirror would only
            # say "no such branch".
            self.fetch_error = exc
            return None
        except errors.GiftwrapError:
            return None  # the usual path says why, in its own words
        finally:
            self.refreshed = True  # fetch need not update the mirror again
        if state is None or fingerprint is None:
            return None
        self.memo = (state[0], {c.name: reuse.key({
            'commit': state[0], 'tags': state[1], 'resolver': fingerprint,
            'patches': patch_digest, 'epoch': os.environ.get(
                'SOURCE_DATE_EPOCH', ''),
            **reuse.settings(project, self.pp.interpreter, c.name,
                             c.options)}) for c in self.pp.builders})
        found = {c.name: reuse.reusable_unchanged(
            project.output_dir, self.name, c.name, self.memo[1][c.name])
            for c in self.pp.builders}
        if not all(found.values()):
            return None
        self.progress(self.name, 'unchanged: reusing the artifacts')
        return [_reused(self.name, n, p) for n, p in found.items()], {}

    @staticmethod
    def _raise(exc: errors.GiftwrapError | None) -> None:
        if exc is not None:
            raise exc

    def _fingerprint(self) -> str | None:
        found = self._resolver(self.pp.project, None,
                               self.pp.interpreter).fingerprint()
        return None if found is None else f'{self.pp.resolver.name} {found}'

    def _remember(self, variant: 'Variant', checkout, keys) -> None:
        """Record the memo of this run beside each artifact it built or
        reused (only for the commit the memo was made for: another
        process may have moved the mirror in between)."""
        if self.memo is None or variant.target or \
                self.memo[0] != checkout.commit:
            return
        for builder, memo in self.memo[1].items():
            reuse.remember(variant.output_dir, variant.key, builder,
                           keys[builder], memo)

    def _source(self) -> 'Source':
        """Clone, patch and render: the same for every target."""
        locked = self._locked_entry()
        self.progress(self.name, 'clone')
        checkout = self._stage('clone', lambda: self._raise(
            self.fetch_error) or git.fetch(
            self.pp.project.giturl,
            locked.commit if locked else self.pp.project.gitref,
            self.work / 'src',
            depth=None if locked else self.pp.project.gitdepth,
            cache_dir=self.options.cache_dir, runner=self.runner,
            refresh=not self.refreshed, offline=self.options.offline))
        git.check_git_cli(checkout)
        # Every timestamp of the build: the operator's, else the commit's.
        epoch = int(os.environ.get('SOURCE_DATE_EPOCH') or
                    checkout.commit_date.timestamp())
        self.runner.extra_env['SOURCE_DATE_EPOCH'] = str(epoch)
        applied = self._stage('patch', lambda: self._patch(checkout, locked))
        project = self._rerender(checkout, applied)
        return Source(project, checkout, applied, epoch)

    def _inputs(self, source: 'Source', variant: 'Variant') -> Inputs:
        """The pins for this variant's interpreter (markers differ)."""
        locked = self._locked_entry(variant.key)
        if locked:  # the lock's pins already have the overrides
            pins, changes = (locked.to_pins(self.options.lock_path),
                             dict(locked.overrides))
        else:
            resolved = self._stage('resolve', lambda: self._resolve(
                source.project, source.checkout, variant))
            pins, changes = overrides.apply(resolved, source.project)
        return Inputs(source.project, source.checkout, source.applied, pins,
                      changes, locked, source.epoch)

    def _build(self, inputs: Inputs, variant: 'Variant') -> Built:
        """The relocated virtualenv, stripped, with its package description."""
        project, checkout, pins = inputs.project, inputs.checkout, inputs.pins
        bindep, headers = self._stage(
            'build dependencies',
            lambda: self._bindep(project, checkout, variant.runner))
        self.progress(variant.key, 'virtualenv')
        tree, report = self._stage('virtualenv', lambda: _hinted(headers, lambda: venv.build(
            interpreter=variant.interpreter,
            stage_root=variant.work / 'root',
            install_path=project.install_path, source_dir=checkout.path,
            pins=pins, extras=project.extras,
            pip_dependencies=project.pip_dependencies,
            postinstall_dependencies=project.postinstall_dependencies,
            include_config=project.include_config,
            work_dir=variant.work / 'venv', cache_dir=self.options.cache_dir,
            runner=variant.runner, installer=project.installer,
            require_hashes=inputs.locked is not None,
            build_tools=inputs.locked.build_tools if inputs.locked else None,
            build_tool_hashes=(inputs.locked.build_tool_hashes
                               if inputs.locked else None),
            creator='venv' if variant.target else 'virtualenv',
            bytecode_cache=self.options.bytecode_cache,
            offline=self.options.offline,
            forbidden=(self.options.work_dir, self.options.cache_dir))))
        self._check_complete(project, pins, report)
        self._stage('strip', lambda: strip.apply(tree.venv, project.name,
                                                 project.strip))
        # After strip, which rewrites RECORDs: nothing may write through
        # the links into the system's site directory.
        linked = self._stage('system python packages', lambda: syspython.link(
            tree.venv, project, variant.interpreter, variant.runner,
            _format(variant), report.installed))
        if inputs.locked is not None:
            for change in syspython.changed(
                    inputs.locked.system_python_packages, linked):
                LOG.warning('%s: not as locked: %s', variant.key, change)
        discovered = self._stage(
            'system dependencies',
            lambda: sysdeps.discover(tree.venv, variant.runner,
                                     scratch=_fresh(variant.work / 'shlibs'),
                                     host=self.runner)
            if tree.native else None)
        description = package.describe(project, tree, variant.interpreter,
                                       checkout, bindep=bindep,
                                       discovered=discovered,
                                       epoch=inputs.source_date_epoch,
                                       patches=inputs.applied)
        return Built(tree, report, description,
                     _notes(report, inputs.applied, inputs.changes), linked)

    def _check_complete(self, project, pins: Pins, report) -> None:
        """Pins that claim the whole closure must cover what was installed."""
        excluded = {canonicalize_name(e) for e in project.pip_exclude}
        unpinned = {n: v for n, v in report.unpinned.items()
                    if n not in excluded}
        if pins.complete and unpinned:
            raise errors.ResolveError(
                'installed without a pin from ' + pins.provenance.get(
                    'resolver', self.pp.resolver.name) + ': ' + ', '.join(
                    f'{n}=={v}' for n, v in unpinned.items()),
                where=f'project {self.name} (virtualenv)',
                hint='the tested pins do not cover these dependencies; add '
                     'them with pip_dependencies at a chosen version, or use '
                     'a resolver whose pins cover them')

    def _package(self, inputs: Inputs, built: Built, choice, key,
                 variant: 'Variant') -> Outcome:
        project = inputs.project
        self.progress(variant.key, f'package ({choice.name})')
        # Packaging runs on this machine (the runner), for the variant's
        # interpreter, into its output directory.
        # What the builder publishes waits, staged, for its SBOM: then it
        # is renamed into place, then recorded in the index.
        publisher = Publisher()
        context = BuildContext(
            project_info=ProjectInfo.of(project), legacy_project=project,
            package=built.description,
            interpreter=variant.interpreter, checkout=inputs.checkout,
            pins=inputs.pins, options=choice.options,
            work_dir=variant.work / 'build' / choice.name,
            output_dir=variant.output_dir, runner=self.runner,
            source_date_epoch=inputs.source_date_epoch, publisher=publisher,
            offline=self.options.offline)
        context.work_dir.mkdir(parents=True, exist_ok=True)
        place = f'project {variant.key} (package with {choice.name})'
        started = time.monotonic()
        written = committed = None
        try:
            with self.serial.get(choice.driver) or contextlib.nullcontext():
                artifact = choice.driver(context).build(built.tree)
            digest = None
            if artifact.path is not None:
                from giftwrap.trust import sbom  # cyclonedx is slow to import
                digest = reuse.sha256_file(publisher.staged(artifact.path))
                written = sbom.write(
                    artifact.path, project=project, checkout=inputs.checkout,
                    report=built.report, package_description=built.description,
                    venv_dir=built.tree.venv, patches=inputs.applied,
                    epoch=inputs.source_date_epoch, digest=digest,
                    system_python=built.system_python)
                publisher.commit(artifact.path)
                committed = artifact.path
                reuse.record(variant.output_dir, variant.key, choice.name, key,
                             artifact.path, digest)
        except ArtifactExists as exists:
            publisher.discard()
            exc = ArtifactExists(exists.path, reuse.changed(
                variant.output_dir, exists.path.name, key))
            exc.where = place
            return Outcome.failed(variant.key, choice.name, exc)
        except BaseException as exc:
            # Nothing partial stays: no artifact without its SBOM and entry.
            publisher.discard()
            for path in (written, committed):
                if path is not None:
                    path.unlink(missing_ok=True)
            if not isinstance(exc, errors.GiftwrapError):
                raise
            exc.where = f'{place}: {exc.where}' if exc.where else place
            return Outcome.failed(variant.key, choice.name, exc,
                                  self.log_file)
        self.runner.note(f'== package with {choice.name}: '
                         f'{time.monotonic() - started:.2f} s')
        return Outcome(variant.key, choice.name, BUILT,
                       artifact=str(artifact.path or artifact.name),
                       message=built.note)

    def _lock_only(self, inputs: Inputs, variant: 'Variant'):
        self.progress(variant.key, 'lock')
        project = inputs.project
        report = self._stage('lock', lambda: venv.resolve_closure(
            interpreter=variant.interpreter, source_dir=inputs.checkout.path,
            pins=inputs.pins, extras=project.extras,
            pip_dependencies=project.pip_dependencies,
            postinstall_dependencies=project.postinstall_dependencies,
            work_dir=variant.work / 'venv', cache_dir=self.options.cache_dir,
            runner=variant.runner, installer=project.installer,
            creator='venv' if variant.target else 'virtualenv',
            offline=self.options.offline, fetch=self.options.fetch))
        linked = self._stage('system python packages', lambda: tuple(
            syspython.query(n, _format(variant), variant.runner,
                            project.where_key(syspython.KEY))
            for n in syspython.requested(project, _format(variant))))
        entry = self._lock_entry(inputs, report, variant, linked)
        return [Outcome(variant.key, 'lock', LOCKED,
                        artifact=f'{len(entry.pins)} pins at '
                                 f'{inputs.checkout.commit_short}',
                        message=_notes(report, inputs.applied,
                                       inputs.changes))], {variant.key: entry}

    def _lock_entry(self, inputs: Inputs, report, variant,
                    system_python=()) -> lockfile.Entry:
        return dataclasses.replace(
            lockfile.entry_for(inputs.project, inputs.checkout, inputs.pins,
                               report, variant.interpreter),
            overrides=dict(inputs.changes),
            patches=tuple(p.to_json() for p in inputs.applied),
            system_python_packages=tuple(p.to_json() for p in system_python))

    # -- helpers of the stages -------------------------------------------

    def _locked_entry(self, key: str | None = None) -> lockfile.Entry | None:
        """The lock's entry of ``key`` (default: the project or its first
        target)."""
        if self.options.lock is None:
            return None
        if key is None:
            key = self.name if not self.pp.targets else \
                f'{self.name}@{self.pp.targets[0].name}'
        entry = self.options.lock.get(key)
        if entry is None:
            raise errors.ResolveError(
                f'{key!r} is not in the lock file',
                where=str(self.options.lock_path),
                hint='lock it first (giftwrap lock -m MANIFEST -p NAME) or '
                     'build it without --lock')
        return entry

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

    def _rerender(self, checkout, applied):
        """The project's values with the real commit and patches (for
        source templates)."""
        if not self.pp.project.source_dependent:
            return self.pp.project
        project = self.plan.manifest.render(
            self.name, {**checkout.template_values(),
                        **patches.template_values(applied)})
        # Keep the plan's choices (-t overrides the manifest's builders)
        # and directories (an executor's worker has its own).
        return dataclasses.replace(
            project, builders=self.pp.project.builders,
            output_dir=self.pp.project.output_dir,
            manifest_dir=self.pp.project.manifest_dir)

    def _resolve(self, project, checkout, variant) -> Pins:
        self.progress(variant.key, 'resolve')
        return self._resolver(project, checkout, variant.interpreter).resolve()

    def _resolver(self, project, checkout, interpreter):
        """The project's resolver (``checkout`` None: for its fingerprint)."""
        choice = self.pp.resolver
        return choice.driver(ResolveContext(
            project_info=ProjectInfo.of(project), legacy_project=project,
            checkout=checkout, interpreter=interpreter,
            options=choice.options, work_dir=self.work / 'resolve',
            cache_dir=self.options.cache_dir / 'resolvers' / choice.name,
            runner=self.runner, http=self.http, offline=self.options.offline))

    def _bindep(self, project, checkout, runner):
        """The project's bindep.txt, its build-only entries checked where
        the virtualenv is built, and the headers it lists that are not
        installed there (a hint, or '')."""
        found = sysdeps.read_bindep(checkout.path, self.options.cache_dir)
        headers = sysdeps.check_build_host(found, runner,
                                           profiles=project.bindep_profiles)
        return found, headers


def _fresh(path: Path) -> Path:
    """An empty directory at ``path``."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _hinted(extra: str, action):
    """Run ``action``; a failed build gets ``extra`` (the headers bindep.txt
    lists that are not installed) in its hint, since a source build may
    have needed them."""
    try:
        return action()
    except errors.BuildError as exc:
        if extra:
            exc.hint = f'{exc.hint}; {extra}' if exc.hint else extra
        raise


def _format(variant: 'Variant') -> str:
    """The package manager that owns the variant's interpreter."""
    return variant.target.format if variant.target else \
        syspython.host_format()


def _reused(project: str, builder: str, path: Path) -> Outcome:
    return Outcome(project, builder, REUSED, artifact=str(path),
                   message='inputs unchanged since it was built')


def _notes(report, applied, changes) -> str:
    """The summary's message: patches, overrides, unpinned distributions."""
    notes = [patches.summary(applied)] if applied else []
    notes += overrides.summary(changes)
    if report.unpinned:
        notes.append('not pinned by the resolver: ' + ', '.join(
            f'{n}=={v}' for n, v in sorted(report.unpinned.items())))
    return '; '.join(n for n in notes if n)

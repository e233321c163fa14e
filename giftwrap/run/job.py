"""One project's build, from clone to artifacts: the stages in order.

Stages, each named in progress lines and errors: reuse check, clone, patch,
resolve, build dependencies, virtualenv, strip, system python packages,
system dependencies, package.  A job only sequences them: each stage is a
function of a stage module, and what one hands the next is a frozen value
(:mod:`giftwrap.run.inputs`).  A failure ends this project only;
:mod:`giftwrap.run.build` runs the jobs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from packaging.utils import canonicalize_name

from giftwrap import errors
from giftwrap.fetch import git, patches
from giftwrap.package import description as package, sysdeps
from giftwrap.plan import targets
from giftwrap.projectinfo import ProjectInfo
from giftwrap.resolve import overrides
from giftwrap.resolve.base import Pins, ResolveContext
from giftwrap.run import packaging, reuse, warm
from giftwrap.run.inputs import Built, Inputs, Source, Variant
from giftwrap.run.outcome import (BUILT, FAILED, LOCKED, REUSED, Outcome,
                                  Progress, notes, reused)
from giftwrap.trust import lockfile
from giftwrap.util.process import Runner, system_hint
from giftwrap.venv import (build as venv, interpreter, strip, syspython,
                           wheelhouse)

if TYPE_CHECKING:  # pragma: no cover
    from giftwrap.plan.planner import Plan, ProjectPlan
    from giftwrap.resolve.http import HttpClient
    from giftwrap.run.build import Options

LOG = logging.getLogger(__name__)

__all__ = ['BUILT', 'FAILED', 'LOCKED', 'REUSED', 'Job', 'Outcome', 'Progress']

Result = tuple[list[Outcome], dict[str, lockfile.Entry]]


@dataclasses.dataclass
class Job:
    """One project's build (a callable for the thread pool).

    Its fields are given, or derived from them when it is made; a run
    changes none of them.
    """

    plan: 'Plan'
    pp: 'ProjectPlan'
    options: 'Options'
    http: 'HttpClient'
    serial: Mapping[type, threading.Lock]
    progress: Progress
    #: the client's reuse memo, for a job an executor's worker runs (the
    #: client checked for unchanged inputs, so the worker does not)
    memo: tuple[str, dict[str, str]] | None = None
    check_unchanged: bool = True
    #: the virtualenv being made while the job clones (see _venv_ahead)
    _ahead: 'Ahead | None' = dataclasses.field(default=None, init=False,
                                               repr=False)
    #: scratch space, the project's log, and the runner logging there
    work: Path = dataclasses.field(init=False)
    log_file: Path = dataclasses.field(init=False)
    runner: Runner = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.work = self.options.work_dir / self.name
        self.log_file = self.options.log_dir / f'{self.name}.log'
        # Every installer this job starts (here or in a target's container)
        # finds the wheelhouses, and offline, nothing else.
        self.runner = Runner(self.log_file, extra_env=wheelhouse.environment(
            self.options.cache_dir, self.options.wheelhouses,
            offline=self.options.offline))

    @property
    def name(self) -> str:
        return self.pp.project.name

    def warm(self) -> warm.Warm:
        """The reuse check :meth:`run` makes first, before any checkout: an
        executor that sends jobs elsewhere need not send an unchanged one,
        and hands the worker the memo."""
        if self.pp.targets or self.options.lock_only or not self.check_unchanged:
            return warm.Warm(memo=self.memo)
        return self._stage('reuse check', lambda: warm.check(
            self.pp, self._locked_entry(), self._fingerprint,
            cache_dir=self.options.cache_dir, offline=self.options.offline,
            runner=self.runner, progress=self.progress))

    def run(self) -> Result:
        try:
            found = self.warm()
            if found.outcomes is not None:
                return found.outcomes, {}
            return self._run(found)
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
            if self._ahead is not None:  # it writes in the work directory
                self._ahead.join()
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
            hint='this is a bug in giftwrap or a driver; the traceback is '
                 'in the log', log=str(self.log_file))

    def _stage(self, stage: str, action):
        started = time.monotonic()
        try:
            return action()
        except errors.GiftwrapError as exc:
            raise exc.at_stage(f'project {self.name} ({stage})')
        finally:
            # Where the time went, for whoever reads the log.
            self.runner.note(f'== {stage}: '
                             f'{time.monotonic() - started:.2f} s')

    # -- the stages, in order ---------------------------------------------

    def _run(self, found: warm.Warm) -> Result:
        self._ahead = self._venv_ahead()
        source = self._source(found)
        if not self.pp.targets:
            host = Variant(None, self.name, self.pp.interpreter, self.runner,
                           source.project.output_dir, self.pp.builders,
                           self.work)
            return self._variant(source, host, found.memo)
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
                # a target's artifacts carry no memo: only the host's do
                found_here, entry = self._variant(source, variant, None)
            outcomes += found_here
            entries.update(entry)
        return outcomes, entries

    def _target(self, source, target, runner) -> Variant:
        """What building for ``target`` needs, checked in its container."""
        for warning in targets.check_image(target, runner):
            LOG.warning('%s: %s', self.name, warning)
        python = interpreter.resolve(target.python, runner)
        builders = tuple(c for c in self.pp.builders
                         if c.driver.package_format in (None, target.format))
        return Variant(target, f'{self.name}@{target.name}', python, runner,
                       source.project.output_dir / target.name, builders,
                       self.work / target.name)

    def _variant(self, source: Source, variant: Variant, memo) -> Result:
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
        found = {c.name: path for c in variant.builders if (
            path := reuse.reusable(variant.output_dir, variant.key, c.name,
                                   keys[c.name]))}
        if len(found) == len(variant.builders):
            self.progress(variant.key, 'unchanged: reusing the artifacts')
            warm.remember(memo, variant.output_dir, variant.key,
                          inputs.checkout.commit, keys)
            return [reused(variant.key, c.name, found[c.name])
                    for c in variant.builders], {}
        built = self._build(inputs, variant)
        outcomes = [reused(variant.key, c.name, found[c.name])
                    if c.name in found else packaging.package(
                        c, inputs, built, keys[c.name], variant,
                        runner=self.runner, log_file=self.log_file,
                        serial=self.serial, progress=self.progress,
                        offline=self.options.offline)
                    for c in variant.builders]
        ok = all(o.status in (BUILT, REUSED) for o in outcomes)
        if ok:
            warm.remember(memo, variant.output_dir, variant.key,
                          inputs.checkout.commit, keys)
        return outcomes, ({variant.key: self._lock_entry(
            inputs, built.report, variant, built.system_python)}
                          if ok else {})

    def _fingerprint(self) -> str | None:
        found = self._resolver(self.pp.project, None,
                               self.pp.interpreter).fingerprint()
        return None if found is None else f'{self.pp.resolver.name} {found}'

    def _source(self, found: warm.Warm) -> Source:
        """Clone, patch and render: the same for every target."""
        locked = self._locked_entry()
        self.progress(self.name, 'clone')
        checkout = self._stage('clone', lambda: _raise(
            found.fetch_error) or git.fetch(
            self.pp.project.giturl,
            locked.commit if locked else self.pp.project.gitref,
            self.work / 'src',
            depth=None if locked else self.pp.project.gitdepth,
            cache_dir=self.options.cache_dir, runner=self.runner,
            refresh=not found.refreshed, offline=self.options.offline))
        git.check_git_cli(checkout)
        # Every timestamp of the build: the operator's, else the commit's.
        epoch = int(os.environ.get('SOURCE_DATE_EPOCH') or
                    checkout.commit_date.timestamp())
        self.runner.extra_env['SOURCE_DATE_EPOCH'] = str(epoch)
        applied = self._stage('patch', lambda: self._patch(checkout, locked))
        project = self._rerender(checkout, applied)
        return Source(project, checkout, applied, epoch)

    def _venv_ahead(self) -> 'Ahead | None':
        """Start making the host's virtualenv, which needs no checkout,
        while the clone runs (virtualenv seeding pip and setuptools is a
        process of its own: 0.3 s of keystone's rebuild); not when the
        install path is rendered from the source, or nothing is built."""
        project = self.pp.project
        if self.pp.targets or self.options.lock_only or \
                self.pp.interpreter is None or \
                'install_path' in project.source_dependent:
            return None
        # A runner of its own: the job's gains the commit's
        # SOURCE_DATE_EPOCH once cloned, which virtualenv must not see only
        # sometimes.  Made here, it belongs to the job's run.
        runner = Runner(self.log_file, extra_env=self.runner.extra_env)
        self.runner.note(AHEAD_NOTE)
        return Ahead(lambda: venv.create(
            interpreter=self.pp.interpreter, stage_root=self.work / 'root',
            install_path=project.install_path, source_dir=self.work / 'src',
            work_dir=self.work / 'venv', cache_dir=self.options.cache_dir,
            runner=runner))

    def _made_ahead(self, variant: Variant, project) -> bool:
        """Whether the host's virtualenv was made ahead (raising what
        making it raised)."""
        ahead = self._ahead
        if ahead is None or variant.target is not None:
            return False
        self._ahead = None
        ahead.join()
        if self.pp.project.install_path != project.install_path:
            raise errors.GiftwrapError(
                f'internal error: the virtualenv was made for '
                f'{self.pp.project.install_path}, not '
                f'{project.install_path}',
                where=f'project {self.name}', hint='this is a bug in giftwrap')
        if ahead.error is not None:
            raise ahead.error
        return True

    def _inputs(self, source: Source, variant: Variant) -> Inputs:
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

    def _build(self, inputs: Inputs, variant: Variant) -> Built:
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
            forbidden=(self.options.work_dir, self.options.cache_dir),
            md5_ahead=any(getattr(c.driver, 'wants_md5', False)
                          for c in variant.builders),
            created=self._made_ahead(variant, project))))
        self._stage('virtualenv', lambda: self._check_complete(
            project, pins, report))
        self._stage('strip', lambda: strip.apply(tree.venv, project.name,
                                                 project.strip))
        # After strip, which rewrites RECORDs: nothing may write through
        # the links into the system's site directory.
        linked = self._stage('system python packages', lambda: syspython.link(
            tree.venv, project, variant.interpreter, variant.runner,
            _format(variant), report.installed))
        # The tree is final: what the SBOMs will say of its distributions
        # is read while the system dependencies are found and packages
        # built (its files' md5 are being computed since the virtualenv
        # stage wrote them, for builders that list them).
        contents = packaging.read_contents(tree.venv, report)
        if inputs.locked is not None:
            for change in syspython.changed(
                    inputs.locked.system_python_packages, linked):
                LOG.warning('%s: not as locked: %s', variant.key, change)
        discovered = self._stage(
            'system dependencies',
            lambda: sysdeps.discover(tree.venv, variant.runner,
                                     scratch=_fresh(variant.work / 'shlibs'),
                                     host=self.runner,
                                     cache_dir=self.options.cache_dir,
                                     candidates=tree.elf_files,
                                     remember=variant.target is None)
            if tree.native else None)
        description = package.describe(project, tree, variant.interpreter,
                                       checkout, bindep=bindep,
                                       discovered=discovered,
                                       epoch=inputs.source_date_epoch,
                                       patches=inputs.applied)
        return Built(tree, report, description,
                     notes(report, inputs.applied, inputs.changes), linked,
                     sbom=contents)

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
                hint='the tested pins do not cover these dependencies; add '
                     'them with pip_dependencies at a chosen version, or use '
                     'a resolver whose pins cover them')

    def _lock_only(self, inputs: Inputs, variant: Variant):
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
                        message=notes(report, inputs.applied,
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


def _raise(exc: errors.GiftwrapError | None) -> None:
    if exc is not None:
        raise exc


def _format(variant: Variant) -> str:
    """The package manager that owns the variant's interpreter."""
    return variant.target.format if variant.target else \
        syspython.host_format()


#: the log's line saying the virtualenv is made beside the clone
AHEAD_NOTE = '== virtualenv: made beside the clone'


class Ahead:
    """An action started in a thread of its own, joined before its result
    is needed (and before the work directory it writes in is removed)."""

    def __init__(self, action):
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(action,),
                                        name='virtualenv-ahead', daemon=True)
        self._thread.start()

    def _run(self, action) -> None:
        try:
            action()
        except BaseException as exc:  # raised where the stage needs it
            self.error = exc

    def join(self) -> None:
        self._thread.join()

"""The virtualenv stage: build a project's virtualenv where it will live.

The virtualenv is created at ``stage_root/<install_path>`` (no root needed),
the project and its pinned closure are installed with pip (or uv, the
manifest's ``installer``), and the tree is then *relocated*: every mention
of the staging directory becomes the install path, so the tree can be
packaged and installed at ``install_path`` as if it had been built there.
A final scan fails the build if any file still names a build directory; a
mistake there would ship a package that only works on the build machine.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import re
import shutil
import sys
import types
from pathlib import Path, PurePosixPath
from typing import Iterator, Mapping, Sequence

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from giftwrap import buildreqs, errors
from giftwrap.builders.base import StagedTree
from giftwrap.interpreter import Interpreter
from giftwrap.process import Runner, base_environment, find_tool
from giftwrap.sources.base import Pins

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover
    tomllib = None

LOG = logging.getLogger(__name__)

#: Distributions virtualenv seeds; they are not part of the project's closure.
SEEDED = frozenset({'pip', 'setuptools', 'wheel'})
#: The installers a manifest may choose (``installer:``).
INSTALLERS = ('pip', 'uv')
# uv's bookkeeping for its cache of local sources: meaningless on the target,
# and uv_cache.json holds a timestamp.
# Installer bookkeeping that varies with how a closure was installed, not
# with what: uv's cache records, and REQUESTED (pip writes it for top-level
# requirements only, uv and a lock replay for everything).
_UV_FILES = ('uv_cache.json', 'uv_build.json', 'REQUESTED')
ELF_MAGIC = b'\x7fELF'
_EXTRA = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
# Characters an install path may use: it is written unquoted into shebangs
# and into the activate scripts' quoted strings.
_SAFE_PATH = re.compile(r'^(/[A-Za-z0-9._+@:,=~-]+)+$')
# A needle must end where a path component ends, so /w does not match /w2.
_NOT_PATH_CHAR = rb'(?![A-Za-z0-9._+~-])'
_CHUNK = 1 << 20
_SHOWN = 10


@dataclasses.dataclass(frozen=True)
class InstallReport:
    """What pip installed into the virtualenv.

    :ivar installed: canonical name -> version of every distribution in
        the virtualenv (the seeded pip and setuptools included).
    :ivar hashes: canonical name -> sha256 (hex) of the distribution file
        pip downloaded or took from its cache, where pip reported one.
    :ivar unpinned: canonical name -> version of the installed closure
        members the pins did not pin (the project itself and the
        distributions virtualenv seeded are not counted).
    """

    installed: Mapping[str, str]
    hashes: Mapping[str, str]
    unpinned: Mapping[str, str]
    #: canonical name -> version of everything pip installed from an index
    #: (the runtime closure; local projects excluded): what a lock pins.
    closure: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}))
    #: name -> version of the build tools: what virtualenv seeded (pip,
    #: setuptools, wheel) and what builds of sdists were constrained to.
    build_tools: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}))


def build(*, interpreter: Interpreter, stage_root: Path,
          install_path: PurePosixPath, source_dir: Path, pins: Pins,
          extras: tuple[str, ...] = (), pip_dependencies: Sequence[str] = (),
          postinstall_dependencies: Sequence[str] = (),
          include_config: bool = False, work_dir: Path,
          cache_dir: Path | None, runner: Runner,
          forbidden: tuple[Path, ...] = (),
          require_hashes: bool = False,
          installer: str = 'pip',
          creator: str = 'virtualenv',
          build_tools: Mapping[str, str] | None = None,
          bytecode_cache: bool = True
          ) -> tuple[StagedTree, InstallReport]:
    """Build, install, relocate and check the virtualenv of one project.

    :param interpreter: the Python the virtualenv runs on (its ``bin/python``
        links to it).
    :param stage_root: a directory standing for ``/`` on the target.
    :param install_path: where the virtualenv will live on the target.
    :param source_dir: the project's checkout, installed non-editable.
    :param pins: constraints for every install, plus extra requirements.
    :param extras: the project's extras to install.
    :param pip_dependencies: installed before the project.
    :param postinstall_dependencies: installed after the project.
    :param include_config: copy the project's ``etc/`` into the virtualenv.
    :param work_dir: scratch space (constraints file, pip reports).
    :param cache_dir: giftwrap's cache; pip's goes in ``cache_dir/pip``,
        uv's in ``cache_dir/uv``.
    :param forbidden: more directories no file may mention.
    :param build_tools: the build tools to use (a lock's): seeded pip
        and setuptools are brought to these versions and sdists build under
        them; default: the seeded ones.
    :param creator: ``virtualenv`` (giftwrap's, on the build host) or
        ``venv`` (the interpreter's own, e.g. inside a target's container).
    :param require_hashes: replay a lock: ``pins`` is the whole closure,
        each with its sha256, installed in hash-checking mode; the project
        itself is then installed on its own, without dependencies.
    :param installer: ``pip`` or ``uv`` (see :data:`INSTALLERS`); either
        installs into the same virtualenv, made by virtualenv.
    :param bytecode_cache: take .pyc files compiled before from
        ``cache_dir/bytecode`` (and keep the new ones there).
    :returns: the staged tree and what was installed.
    :raises giftwrap.errors.BuildError: virtualenv, the installer or its
        check failed, or a file still names a build directory.
    :raises giftwrap.errors.MissingToolError: ``installer`` is ``uv`` and
        uv is not installed.
    """
    install_path = _check_install_path(install_path)
    extras = _check_extras(extras)
    check_installer(installer)
    source_dir = Path(os.path.abspath(source_dir))
    stage_root, work_dir = (Path(os.path.abspath(p)) for p in (stage_root, work_dir))
    venv = stage_root / install_path.relative_to('/')
    work_dir.mkdir(parents=True, exist_ok=True)
    env = _environment(source_dir, stage_root, work_dir)
    _create(interpreter, venv, install_path, cache_dir, runner, env, creator)
    spec = f'{source_dir}[{",".join(extras)}]' if extras else str(source_dir)
    constraints = work_dir / 'constraints.txt'
    constraints.write_text(pins.constraints_text())
    tools = _build_tools(venv, build_tools, runner, env, cache_dir)
    phases = [('pip_dependencies', tuple(pip_dependencies)),
              ('project', (spec, *pins.requirements)),
              ('postinstall_dependencies', tuple(postinstall_dependencies))]
    resolved = None
    if build_tools is None and _takes_build_constraints(venv, installer):
        pinned = buildreqs.pin(
            buildreqs.Context(venv, installer, interpreter, work_dir,
                              cache_dir, runner, env),
            seeded=tools, source_dir=source_dir, constraints=constraints,
            phases=[specs for _, specs in phases])
        tools = dict(pinned.versions)
        # One phase, resolved already: install that resolution as it is.
        if pinned.lock and sum(1 for _, s in phases if s) == 1 and \
                _keeps_seeded(pinned.lock, venv):
            resolved = pinned.lock
    tool = _INSTALLER_CLASSES[installer](
        venv, constraints, work_dir, cache_dir, runner, env,
        build_constraints=_build_constraint_file(venv, tools, work_dir,
                                                 installer))
    if require_hashes:
        _install_locked(tool, spec, pins, work_dir)
    elif resolved is not None:
        tool.install_resolved('project', resolved, dict(phases)['project'])
    else:
        for name, specs in phases:
            if specs:
                tool.install(name, ['--', *specs])
    tool.check()
    report = dataclasses.replace(tool.report(pins),
                                 build_tools=types.MappingProxyType(tools))
    tool.tidy()
    relocate(venv, install_path)
    _compile(venv, install_path, runner, env, work_dir,
             cache_dir if bytecode_cache else None)
    config = _copy_config(source_dir, venv, install_path) if include_config \
        else ()
    native = scan(venv, (stage_root, work_dir, source_dir, *forbidden),
                  install_path)
    tree = StagedTree(root=stage_root, install_path=install_path,
                      config_files=config, native=native,
                      installed=report.installed)
    return tree, report


def _keeps_seeded(lock: Path, venv: Path) -> bool:
    """Whether installing ``lock`` leaves the seeded tools as they are.

    An install keeps a seeded setuptools that meets a requirement, where a
    resolution from nothing (``uv pip compile``) picks the index's newest:
    then the resolution is not what the install would have done.
    """
    seeded = _seeded(venv)
    return all(seeded.get(canonicalize_name(p['name']), p.get('version'))
               == p.get('version')
               for p in tomllib.loads(lock.read_text()).get('packages', ()))


def _seeded(venv: Path) -> dict[str, str]:
    """What virtualenv (or ensurepip) put in the new environment."""
    return {canonicalize_name(d.metadata['Name']): d.version
            for d in importlib.metadata.distributions(
                path=[str(site_packages(venv))])
            if canonicalize_name(d.metadata['Name']) in SEEDED}


def _build_tools(venv: Path, wanted: Mapping[str, str] | None,
                 runner: Runner, env: dict[str, str],
                 cache_dir: Path | None) -> dict[str, str]:
    """The seeded tools, or a lock's build tools, made so in the venv.

    Without a lock: the seeded pip, setuptools and wheel (:func:`build`
    adds the resolved build requirements; runtime pins are no build
    constraints: upper-constraints' pbr, say, needs a setuptools with
    pkg_resources that the seeded one no longer has).  With a lock: all its
    build tools; the seeded ones are reinstalled at the locked versions if
    they differ (another virtualenv release seeds others), and nothing that
    was not seeded is installed (a locked build requirement such as wheel
    only constrains builds).
    """
    seeded = _seeded(venv)
    if wanted is not None:
        differ = [f'{n}=={v}' for n, v in sorted(wanted.items())
                  if n in seeded and seeded[n] != v]
        if differ:
            cache = (['--cache-dir', str(cache_dir / 'pip')] if cache_dir
                     else ['--no-cache-dir'])
            runner.run([str(venv / 'bin' / 'python'), '-m', 'pip', 'install',
                        '--no-compile', *cache, '--', *differ], env=env,
                       what='pip install (locked build tools)')
        return dict(sorted({**seeded, **wanted}.items()))
    return dict(sorted(seeded.items()))


def _takes_build_constraints(venv: Path, installer: str) -> bool:
    """Whether the installer can constrain what sdists build with."""
    # pip's --build-constraint is new in 25.3
    return installer != 'pip' or \
        Version(_seeded(venv).get('pip', '0')) >= Version('25.3')


def _build_constraint_file(venv: Path, tools: Mapping[str, str],
                           work_dir: Path, installer: str) -> Path | None:
    """Constraints for building sdists, where the installer takes them."""
    if not _takes_build_constraints(venv, installer):
        LOG.info('pip %s cannot constrain build dependencies',
                 _seeded(venv).get('pip'))
        return None
    path = work_dir / 'build-constraints.txt'
    path.write_text(''.join(f'{n}=={v}\n' for n, v in tools.items()
                            if n != 'pip'))
    return path


def check_installer(installer: str) -> None:
    """Check that ``installer`` is known and, for uv, installed.

    :raises giftwrap.errors.BuildError: an unknown installer.
    :raises giftwrap.errors.MissingToolError: uv is not installed.
    """
    if installer not in INSTALLERS:
        raise errors.BuildError(f'unknown installer {installer!r}',
                                hint='installer is one of: '
                                     + ', '.join(INSTALLERS))
    if installer == 'uv':
        _uv_binary()


def resolve_closure(*, interpreter: Interpreter, source_dir: Path, pins: Pins,
                    extras: tuple[str, ...] = (),
                    pip_dependencies: Sequence[str] = (),
                    postinstall_dependencies: Sequence[str] = (),
                    work_dir: Path, cache_dir: Path | None,
                    runner: Runner, installer: str = 'pip',
                    creator: str = 'virtualenv') -> InstallReport:
    """What :func:`build` would install, without installing it.

    pip resolves the whole runtime closure under the pins in a scratch
    virtualenv of the target interpreter (so markers are evaluated for it)
    and reports versions and the hashes the index gives.  It does so for
    either ``installer``: uv can resolve but names no file, so no hash,
    without installing; both honour the pins, and either one replays the
    lock, taking only files with the locked hashes.

    :raises giftwrap.errors.BuildError: the pins cannot be satisfied, or
        ``installer`` is unknown.
    """
    extras = _check_extras(extras)
    if installer not in INSTALLERS:  # uv itself does not run here
        check_installer(installer)
    source_dir = Path(os.path.abspath(source_dir))
    work_dir = Path(os.path.abspath(work_dir))
    work_dir.mkdir(parents=True, exist_ok=True)
    env = _environment(source_dir, work_dir, work_dir)
    scratch = work_dir / 'resolve-venv'
    _make_venv(interpreter, scratch, cache_dir, runner, env, creator)
    constraints = work_dir / 'constraints.txt'
    constraints.write_text(pins.constraints_text())
    spec = f'{source_dir}[{",".join(extras)}]' if extras else str(source_dir)
    tools = _seeded(scratch)
    build_constraints = []
    if _takes_build_constraints(scratch, 'pip'):
        # The lock records the build requirements a build would pin, so a
        # rebuild from it builds the project with the same pbr.
        tools = dict(buildreqs.pin(
            buildreqs.Context(scratch, 'pip', interpreter, work_dir,
                              cache_dir, runner, env),
            seeded=tools, source_dir=source_dir, constraints=constraints,
            phases=[tuple(pip_dependencies), (spec, *pins.requirements),
                    tuple(postinstall_dependencies)]).versions)
        build_constraints = ['--build-constraint', str(_build_constraint_file(
            scratch, tools, work_dir, 'pip'))]
    report = _pip_install(
        scratch, 'resolve', [*build_constraints, '--dry-run',
                             '--ignore-installed', '--',
                             *pip_dependencies, spec, *pins.requirements,
                             *postinstall_dependencies],
        constraints, work_dir, cache_dir, runner, env, options_first=True)
    closure, hashes = {}, {}
    for item in report.get('install', ()):
        info = item.get('download_info', {})
        if 'dir_info' in info:
            continue
        name = canonicalize_name(item['metadata']['name'])
        closure[name] = item['metadata']['version']
        sha = info.get('archive_info', {}).get('hashes', {}).get('sha256')
        if sha:
            hashes[name] = sha
    unpinned = {n: v for n, v in closure.items() if n not in pins.pins}
    return InstallReport(*(types.MappingProxyType(dict(sorted(m.items())))
                           for m in (closure, hashes, unpinned, closure,
                                     tools)))


def _check_install_path(install_path: PurePosixPath) -> PurePosixPath:
    text = str(install_path)
    if not _SAFE_PATH.match(text) or '..' in install_path.parts:
        raise errors.BuildError(
            f'install_path {text!r} is not a plain absolute path',
            hint='use an absolute path of letters, digits and . _ + - '
                 '(e.g. /opt/openstack/2025.1/nova)')
    return PurePosixPath(text)


def _check_extras(extras: Sequence[str]) -> tuple[str, ...]:
    for extra in extras:
        if not _EXTRA.match(extra):
            raise errors.BuildError(f'{extra!r} is not an extra name',
                                    hint='extras are names like "mysql"')
    return tuple(extras)


def _environment(source_dir: Path, stage_root: Path, work_dir: Path
                 ) -> dict[str, str]:
    """The environment of pip and the interpreter.

    Compiled extensions record their build directory in debug information;
    the prefix maps make them record ``.`` instead.
    """
    maps = {str(p) for d in (source_dir, stage_root, work_dir)
            for p in (Path(os.path.abspath(d)), Path(os.path.realpath(d)))}
    flags = ' '.join(f'-ffile-prefix-map={p}=.' for p in
                     sorted(maps, key=len, reverse=True))
    return base_environment(PIP_DISABLE_PIP_VERSION_CHECK='1',
                            PIP_NO_INPUT='1', PYTHONDONTWRITEBYTECODE='1',
                            CFLAGS=flags, CXXFLAGS=flags)


def _create(interpreter: Interpreter, venv: Path, install_path: PurePosixPath,
            cache_dir: Path | None, runner: Runner, env: dict[str, str],
            creator: str = 'virtualenv') -> None:
    if venv.exists() and any(venv.iterdir()):
        raise errors.BuildError(
            f'the staging directory {venv} is not empty',
            hint='remove it; each build needs a fresh staging root')
    _make_venv(interpreter, venv, cache_dir, runner, env, creator)
    _rewrite_pyvenv_cfg(venv, interpreter, install_path, creator)


def _make_venv(interpreter: Interpreter, venv: Path, cache_dir: Path | None,
               runner: Runner, env: dict[str, str], creator: str) -> None:
    if creator == 'venv':
        # Inside a target's container giftwrap's virtualenv is not at hand:
        # the target's own interpreter makes the environment (with pip from
        # its ensurepip).
        runner.run([str(interpreter.path), '-m', 'venv', '--', str(venv)],
                   env=env, what='python -m venv')
        return
    argv = [sys.executable, '-m', 'virtualenv', '--no-download',
            '--no-periodic-update', '--no-vcs-ignore',
            '-p', str(interpreter.path)]
    if cache_dir is not None:
        argv += ['--app-data', str(cache_dir / 'virtualenv')]
    runner.run([*argv, '--', str(venv)], env=env, what='virtualenv')


def _pip_install(venv: Path, phase: str, specs: Sequence[str],
                 constraints: Path, work_dir: Path, cache_dir: Path | None,
                 runner: Runner, env: dict[str, str], *,
                 options_first: bool = False) -> dict:
    """Install ``specs`` under the constraints; returns pip's report.

    :param options_first: ``specs`` are giftwrap's own options and files
        (never manifest values), which must come before ``--``.
    """
    report = work_dir / f'pip-report-{phase.replace(" ", "-")}.json'
    cache = (['--cache-dir', str(cache_dir / 'pip')] if cache_dir is not None
             else ['--no-cache-dir'])
    tail = list(specs) if options_first else ['--', *specs]
    argv = [str(venv / 'bin' / 'python'), '-m', 'pip', 'install',
            '--no-compile', '--progress-bar', 'off', '-c', str(constraints),
            '--report', str(report), *cache, *tail]
    try:
        runner.run(argv, env=env, what=f'pip install ({phase})')
    except errors.CommandError as exc:
        hint = ('the pins (constraints) and the requirements conflict, or a '
                'pinned version does not exist: see pip\'s output above')
        raise errors.BuildError(
            f'pip could not install the {phase.replace("_", " ")}',
            output=exc.output,
            hint=f'{hint}; {exc.hint}' if exc.hint else hint) from exc
    return json.loads(report.read_text())


def _install_locked(tool: '_Pip', spec: str, pins: Pins, work_dir: Path
                    ) -> None:
    """Install a lock's closure with hashes checked, then the project."""
    unhashed = sorted(str(p) for p in pins.pins.values() if not p.sha256)
    if unhashed:
        raise errors.BuildError(
            'the lock has no sha256 for ' + ', '.join(unhashed),
            hint='regenerate the lock (giftwrap lock, or a build without '
                 '--lock) from a package index that serves hashes')
    locked = work_dir / 'locked-requirements.txt'
    locked.write_text(''.join(f'{p} --hash=sha256:{p.sha256}\n'
                              for _, p in sorted(pins.pins.items())))
    tool.install('locked pins', ['--require-hashes', '--no-deps', '-r',
                                 str(locked)])
    tool.install('project', ['--no-deps', '--', spec])


def _pip_check(venv: Path, runner: Runner, env: dict[str, str],
               argv: Sequence[str] | None = None) -> None:
    argv = argv or [str(venv / 'bin' / 'python'), '-m', 'pip', 'check']
    result = runner.run(argv, env=env, check=False,
                        what=f'{Path(argv[0]).name} pip check')
    if result.returncode != 0:
        raise errors.BuildError(
            'pip check found broken requirements in the virtualenv',
            output=result.tail(),
            hint='a postinstall or pip dependency replaced a version the '
                 'project needs; fix the pins or the dependencies')


@dataclasses.dataclass
class _Pip:
    """pip, run by the virtualenv's own interpreter, one report per install.

    ``install`` takes giftwrap's options first; manifest values only after
    a ``--`` in ``args``.
    """

    venv: Path
    constraints: Path
    work_dir: Path
    cache_dir: Path | None
    runner: Runner
    env: dict[str, str]
    reports: list = dataclasses.field(default_factory=list)
    #: constraints for building sdists (pip >= 25.3, uv), or None
    build_constraints: Path | None = None

    def install(self, phase: str, args: Sequence[str]) -> None:
        if self.build_constraints is not None:
            args = ['--build-constraint', str(self.build_constraints), *args]
        self.reports.append(_pip_install(
            self.venv, phase, args, self.constraints, self.work_dir,
            self.cache_dir, self.runner, self.env, options_first=True))

    def check(self) -> None:
        _pip_check(self.venv, self.runner, self.env)

    def report(self, pins: Pins) -> InstallReport:
        return _install_report(site_packages(self.venv), self.reports, pins)

    def tidy(self) -> None:
        """Remove what the installer left for itself in the virtualenv."""


@dataclasses.dataclass
class _Uv(_Pip):
    """uv installing into the virtualenv: the same pins, found faster.

    uv writes no report: versions come from the virtualenv's metadata and
    hashes from the index, through ``uv pip compile`` (:func:`_uv_hashes`).
    """

    def __post_init__(self) -> None:
        self.uv = _uv_binary()
        #: the pylock.toml installed, if the install was one
        self.resolved: Path | None = None
        self.env = dict(self.env)
        # Only the cache is giftwrap's choice; index settings stay the user's.
        if self.cache_dir is not None:
            self.env['UV_CACHE_DIR'] = str(self.cache_dir / 'uv')
        else:
            self.env['UV_NO_CACHE'] = '1'

    def run(self, args: Sequence[str], what: str, check: bool = True):
        # In the work directory, so no uv.toml or pyproject.toml of
        # giftwrap's own working directory configures it.
        return self.runner.run(
            [self.uv, 'pip', *args], cwd=self.work_dir, env=self.env,
            check=check, what=what)

    def install(self, phase: str, args: Sequence[str]) -> None:
        # uv compiles no byte-code unless asked: giftwrap compiles later.
        if self.build_constraints is not None:
            args = ['--build-constraint', str(self.build_constraints), *args]
        argv = ['install', '--python', str(self.venv / 'bin' / 'python'),
                '--link-mode', 'copy', '-c', str(self.constraints), *args]
        try:
            self.run(argv, f'uv pip install ({phase})')
        except errors.CommandError as exc:
            raise errors.BuildError(
                f'uv could not install the {phase.replace("_", " ")}',
                output=exc.output,
                hint='the pins (constraints) and the requirements conflict, '
                     'or a pinned version does not exist: see uv\'s output'
                     + (f'; {exc.hint}' if exc.hint else '')) from exc

    def install_resolved(self, phase: str, lock: Path,
                         specs: Sequence[str]) -> None:
        """Install ``specs`` as uv's ``pylock.toml`` of them resolved them,
        without asking the index again; its hashes serve :meth:`report`.

        Every version is a constraint, and uv first works from its cache
        alone (``--offline``): the index answers it would revalidate are
        the resolution's whole cost.  When something is not cached, the
        same install runs online.  (Installing the pylock.toml itself
        would download every file again wherever a proxy drops caching
        headers: uv takes its files as direct URLs.)
        """
        exact = self.work_dir / 'resolved-constraints.txt'
        exact.write_text(''.join(
            f'{p["name"]}=={p["version"]}\n'
            for p in tomllib.loads(lock.read_text()).get('packages', ())
            if 'version' in p and 'directory' not in p))
        args = ['-c', str(exact), '--', *specs]
        try:
            self.install(phase, ['--offline', *args])
        except errors.BuildError:
            LOG.info('not everything %s needs is in uv\'s cache: asking '
                     'the index', phase)
            self.install(phase, args)
        self.resolved = lock

    def check(self) -> None:
        _pip_check(self.venv, self.runner, self.env, [
            self.uv, 'pip', 'check', '--python',
            str(self.venv / 'bin' / 'python')])

    def report(self, pins: Pins) -> InstallReport:
        site = site_packages(self.venv)
        dists = {canonicalize_name(d.metadata['Name']): d for d in
                 importlib.metadata.distributions(path=[str(site)])}
        closure = {n: d.version for n, d in dists.items()
                   if (d.read_text('INSTALLER') or '').strip() == 'uv'
                   and not _is_local(d)}
        hashes = _uv_hashes(self, closure, dists, self.resolved)
        return _report({n: d.version for n, d in dists.items()}, closure,
                       hashes, pins)

    def tidy(self) -> None:
        # uv locks the environment with this file while it installs.
        (self.venv / '.lock').unlink(missing_ok=True)


_INSTALLER_CLASSES = {'pip': _Pip, 'uv': _Uv}


def _uv_binary() -> str:
    found = find_tool('uv')
    if found is None:
        raise errors.MissingToolError(
            'uv is not installed', where='installer: uv',
            hint='pip install uv (beside giftwrap), or use installer: pip')
    return found


def _is_local(dist: importlib.metadata.Distribution) -> bool:
    """Whether ``dist`` was installed from a local directory or file."""
    text = dist.read_text('direct_url.json')
    return bool(text) and json.loads(text).get('url', '').startswith('file:')


def _uv_hashes(uv: _Uv, closure: Mapping[str, str],
               dists: Mapping[str, importlib.metadata.Distribution],
               resolved: Path | None = None) -> dict[str, str]:
    """sha256 of the file uv installed for each closure member.

    ``uv pip compile`` of the exact versions, as a pylock.toml, lists each
    one's sdist and the wheels that suit the interpreter, with the index's
    hashes.  The wheel installed is the one whose tags its ``WHEEL`` file
    names; a distribution whose tags match no wheel was built from the sdist.
    """
    if not closure:
        return {}
    if tomllib is None:  # pragma: no cover
        LOG.warning('no hashes for the lock: reading uv\'s pylock.toml needs '
                    'Python 3.11; the lock cannot be replayed')
        return {}
    lock = uv.work_dir / 'pylock.toml'
    if resolved is not None:  # the pylock.toml installed lists them all
        lock = resolved
    else:
        wanted = uv.work_dir / 'uv-closure.txt'
        wanted.write_text(''.join(f'{n}=={v}\n'
                                  for n, v in sorted(closure.items())))
        uv.run(['compile', '--python', str(uv.venv / 'bin' / 'python'),
                '--no-deps', '--format', 'pylock.toml', '--no-header',
                '--quiet', '-o', str(lock), '--', str(wanted)],
               'uv pip compile (hashes)')
    hashes = {}
    for package in tomllib.loads(lock.read_text()).get('packages', ()):
        name = canonicalize_name(package['name'])
        if name in closure:
            sha = _installed_file_hash(package, _wheel_tags(dists[name]))
            if sha:
                hashes[name] = sha
    return hashes


def _wheel_tags(dist: importlib.metadata.Distribution) -> frozenset:
    lines = (dist.read_text('WHEEL') or '').splitlines()
    return frozenset(tag for line in lines if line.startswith('Tag:')
                     for tag in parse_tag(line.split(':', 1)[1].strip()))


def _installed_file_hash(package: Mapping, tags: frozenset) -> str | None:
    """The sha256 of the pylock entry's wheel with ``tags``, else its sdist's."""
    for wheel in package.get('wheels', ()):
        filename = wheel.get('name') or wheel.get('url', '').rsplit('/', 1)[-1]
        if parse_wheel_filename(filename)[3] == tags:
            return wheel.get('hashes', {}).get('sha256')
    return package.get('sdist', {}).get('hashes', {}).get('sha256')


def _rewrite_pyvenv_cfg(venv: Path, interpreter: Interpreter,
                        install_path: PurePosixPath,
                        creator: str = 'virtualenv') -> None:
    """Make ``command`` say how to recreate the virtualenv where it lives.

    virtualenv (and venv) record their whole command line, build paths
    included.
    """
    cfg = venv / 'pyvenv.cfg'
    lines = cfg.read_text().splitlines()
    command = (f'command = {interpreter.path} -m venv {install_path}'
               if creator == 'venv' else
               f'command = virtualenv -p {interpreter.path} {install_path}')
    cfg.write_text(''.join(
        (command if line.split('=', 1)[0].strip() == 'command' else line)
        + '\n' for line in lines))


def relocate(venv: Path, install_path: PurePosixPath) -> None:
    """Replace the staging path by ``install_path`` in the virtualenv.

    Rewrites the scripts and activate scripts in ``bin`` and ``pyvenv.cfg``,
    removes ``direct_url.json`` of distributions installed from a local path
    (it names the checkout) and uv's cache records (``uv_cache.json``,
    ``uv_build.json``), and updates the ``RECORD`` of each distribution
    whose files changed.

    :param venv: the virtualenv inside the staging root.
    :param install_path: where it will live.
    """
    old, new = str(venv).encode(), str(install_path).encode()
    changed: dict[Path, bytes] = {}
    for path in [*sorted((venv / 'bin').iterdir()), venv / 'pyvenv.cfg']:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data and not data.startswith(ELF_MAGIC):
            data = data.replace(old, new)
            _rewrite(path, data)
            changed[path] = data
    site = site_packages(venv)
    removed = _remove_local_direct_urls(site) | _remove_uv_files(site)
    _fix_records(site, changed, removed)
    _sort_records(site)
    # virtualenv marks the venv as a cache: backup tools would skip it.
    (venv / 'CACHEDIR.TAG').unlink(missing_ok=True)
    LOG.debug('relocated %d files to %s', len(changed), install_path)


def _sort_records(site: Path) -> None:
    """Write every ``RECORD`` in a stable order.

    virtualenv's seeder lists byte-code in set order, and a rewritten
    RECORD ends its lines otherwise, so two builds of the same inputs would
    differ; neither order nor line ending means anything to a RECORD.
    """
    for record in sorted(site.glob('*.dist-info/RECORD')):
        data = record.read_bytes()
        lines = data.decode('utf-8').splitlines()
        # one line ending too: csv writes \r\n where pip wrote \n
        ordered = ('\n'.join(sorted(set(filter(None, lines)))) + '\n').encode()
        if ordered != data:
            _rewrite(record, ordered)


def _rewrite(path: Path, data: bytes) -> None:
    """Replace ``path``'s content, keeping its mode."""
    mode = path.stat().st_mode
    tmp = path.with_name(f'.{path.name}.giftwrap-tmp')
    tmp.write_bytes(data)
    os.chmod(tmp, mode & 0o7777)
    os.replace(tmp, path)


def _remove_local_direct_urls(site: Path) -> set[Path]:
    removed = set()
    for path in site.glob('*.dist-info/direct_url.json'):
        url = json.loads(path.read_text()).get('url', '')
        if url.startswith('file:'):
            path.unlink()
            removed.add(path)
    return removed


def _remove_uv_files(site: Path) -> set[Path]:
    removed = set()
    for name in _UV_FILES:
        for path in site.glob(f'*.dist-info/{name}'):
            path.unlink()
            removed.add(path)
    return removed


def _fix_records(site: Path, changed: Mapping[Path, bytes],
                 removed: set[Path]) -> None:
    """Update hashes and sizes of ``changed`` and drop ``removed`` in RECORDs."""
    for record in site.glob('*.dist-info/RECORD'):
        rows = list(csv.reader(io.StringIO(record.read_text())))
        kept, dirty = [], False
        for row in rows:
            target = Path(os.path.normpath(site / row[0])) if row else None
            if target in removed:
                dirty = True
                continue
            if target in changed:
                row = [row[0], _record_hash(changed[target]),
                       str(len(changed[target]))]
                dirty = True
            kept.append(row)
        if dirty:
            out = io.StringIO()
            csv.writer(out, lineterminator='\n').writerows(kept)
            _rewrite(record, out.getvalue().encode())


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return 'sha256=' + digest.rstrip(b'=').decode()


def _compile(venv: Path, install_path: PurePosixPath, runner: Runner,
             env: dict[str, str], work_dir: Path,
             cache_dir: Path | None) -> None:
    """Byte-compile site-packages, recording the installed source paths.

    checked-hash byte-code carries the source's hash, not its mtime, so it
    is reproducible and stays valid whatever the package's mtimes.  The
    virtualenv's interpreter runs :mod:`giftwrap.bytecode` (a copy in the
    work directory, which a target's container sees), which keeps every
    .pyc in ``cache_dir/bytecode`` and compiles only what it has not seen.
    """
    site = site_packages(venv)
    recorded = install_path / site.relative_to(venv).as_posix()
    script = work_dir / 'bytecode.py'
    shutil.copyfile(Path(__file__).with_name('bytecode.py'), script)
    cache = [str(cache_dir / 'bytecode')] if cache_dir is not None else []
    result = runner.run([str(venv / 'bin' / 'python'), '-I', str(script),
                         str(site), str(recorded), *cache], env=env,
                        check=False, what='byte-compile')
    # Some distributions ship modules for other Pythons (or templates named
    # .py); pip skips those too, so a failure is worth a warning only.
    if result.returncode != 0:
        LOG.warning('some modules did not byte-compile:\n%s', result.tail())


def _copy_config(source_dir: Path, venv: Path, install_path: PurePosixPath
                 ) -> tuple[PurePosixPath, ...]:
    """Copy the project's ``etc/`` to ``<venv>/etc``; returns target paths."""
    etc = source_dir / 'etc'
    if not etc.is_dir():
        raise errors.BuildError(
            'include_config is set but the source has no etc/ directory',
            where=str(source_dir),
            hint='set include_config: false for this project')
    shutil.copytree(etc, venv / 'etc', symlinks=True, dirs_exist_ok=True)
    return tuple(sorted(
        install_path / p.relative_to(venv).as_posix()
        for p in (venv / 'etc').rglob('*')
        if p.is_file() and not p.is_symlink()))


def scan(venv: Path, forbidden: Sequence[Path],
         install_path: PurePosixPath) -> bool:
    """Check that no file or link in ``venv`` names a ``forbidden`` path.

    Every file is read, binary ones too; symlinks are checked by their
    target and not followed.

    :param install_path: paths that are a prefix of it cannot be checked
        (every shebang would match) and are skipped.
    :returns: whether any file is an ELF object (native code).
    :raises giftwrap.errors.BuildError: naming the first offending files.
    """
    needles = _needles(forbidden, install_path)
    pattern = re.compile(b'(?:' + b'|'.join(re.escape(n) for n in needles)
                         + b')' + _NOT_PATH_CHAR) if needles else None
    # bytes.find of what every needle starts with is many times faster
    # than the regular expression, and almost never finds anything.
    prefix = os.path.commonprefix(needles) if needles else b''
    offenders, native = [], False
    for path in _walk(venv):
        if path.is_symlink():
            hit = pattern and pattern.search(os.fsencode(os.readlink(path)))
        else:
            elf, hit = _scan_file(path, pattern, prefix)
            native = native or elf
        if hit:
            offenders.append(f'{path.relative_to(venv)}: '
                             f'{hit.group().decode(errors="replace")}')
    if offenders:
        raise errors.BuildError(
            f'{len(offenders)} files in the virtualenv name a build '
            f'directory', output='\n'.join(offenders[:_SHOWN]),
            hint='such a package would only work on the build machine; '
                 'find what wrote the path (a script, a compiled extension) '
                 'and build that distribution without it')
    return native


def _needles(forbidden: Sequence[Path], install_path: PurePosixPath
             ) -> list[bytes]:
    needles = set()
    for path in forbidden:
        for text in {os.path.abspath(path), os.path.realpath(path)}:
            if PurePosixPath(install_path).is_relative_to(text):
                LOG.warning('cannot check for %s: the install path %s is '
                            'inside it', text, install_path)
                continue
            needles.add(os.fsencode(text))
    # Longest first, so the offending path shown is the most precise one.
    return sorted(needles, key=len, reverse=True)


def _walk(top: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top):
        base = Path(dirpath)
        for name in sorted(filenames):
            yield base / name
        # os.walk does not descend into linked directories; check the links.
        for name in sorted(dirnames):
            if (base / name).is_symlink():
                yield base / name


def _scan_file(path: Path, pattern: re.Pattern | None, prefix: bytes = b''
               ) -> tuple[bool, re.Match | None]:
    """Whether ``path`` is ELF, and the first forbidden path it contains.

    :param prefix: what every match starts with (a quick test first).
    """
    if not path.is_file():
        return False, None
    overlap = max(len(pattern.pattern), 1) if pattern else 1
    with open(path, 'rb') as stream:
        chunk = stream.read(_CHUNK)
        elf = chunk.startswith(ELF_MAGIC)
        tail = b''
        while chunk and pattern is not None:
            data = tail + chunk
            hit = pattern.search(data) if prefix in data else None
            if hit:
                return elf, hit
            tail = (tail + chunk)[-overlap:]
            chunk = stream.read(_CHUNK)
    return elf, None


def site_packages(venv: Path) -> Path:
    """The virtualenv's one ``lib/pythonX.Y/site-packages``."""
    found = sorted(venv.glob('lib/*/site-packages'))
    if len(found) != 1:
        raise errors.BuildError(f'expected one lib/*/site-packages in {venv}, '
                                f'found {len(found)}')
    return found[0]


def _install_report(site: Path, reports: Sequence[Mapping], pins: Pins
                    ) -> InstallReport:
    """Combine pip's ``--report`` of each install with what is installed."""
    installed = {canonicalize_name(d.metadata['Name']): d.version
                 for d in importlib.metadata.distributions(path=[str(site)])}
    hashes, closure = {}, {}
    for report in reports:
        for item in report.get('install', ()):
            name = canonicalize_name(item['metadata']['name'])
            info = item.get('download_info', {})
            sha = info.get('archive_info', {}).get('hashes', {}).get('sha256')
            if sha:
                hashes[name] = sha
            if 'dir_info' not in info and name in installed:
                closure[name] = installed[name]
    return _report(installed, closure, hashes, pins)


def _report(installed: Mapping[str, str], closure: Mapping[str, str],
            hashes: Mapping[str, str], pins: Pins) -> InstallReport:
    """An :class:`InstallReport`, names sorted, read-only."""
    unpinned = {n: v for n, v in closure.items() if n not in pins.pins}
    return InstallReport(*(types.MappingProxyType(dict(sorted(m.items())))
                           for m in (installed, hashes, unpinned, closure)))

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

import concurrent.futures
import csv
import dataclasses
import logging
import os
import re
import shutil
import sys
import types
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from packaging.utils import canonicalize_name
from packaging.version import Version

from giftwrap import errors
from giftwrap.venv import wheelhouse
from giftwrap.util import atomic, identifiers
from giftwrap.venv import buildreqs, digests, installers
# What other modules read here: the report type and the installer checks.
from giftwrap.venv.installers import (INSTALLERS, SEEDED, InstallReport,  # noqa: F401
                                      check_installer, site_packages)
from giftwrap.venv.tree import StagedTree
from giftwrap.venv.interpreter import Interpreter
from giftwrap.venv.relocate import relocate
from giftwrap.venv.scan import scan
from giftwrap.util.process import Runner, base_environment
from giftwrap.fetch import links
from giftwrap.resolve.base import Pin, Pins

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover
    tomllib = None

LOG = logging.getLogger(__name__)

_EXTRA = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*\Z')
# Characters an install path may use: it is written unquoted into shebangs
# and into the activate scripts' quoted strings.
_SAFE_PATH = re.compile(r'^(/[A-Za-z0-9._+@:,=~-]+)+\Z')


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
          build_tool_hashes: Mapping[str, Sequence[str]] | None = None,
          bytecode_cache: bool = True,
          offline: bool = False,
          md5_ahead: bool = False,
          created: bool = False
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
    :param build_tool_hashes: the lock's sha256s of those tools (name ->
        the hashes any of its files may have): sdists then build only with
        files that have them.
    :param creator: ``virtualenv`` (giftwrap's, on the build host) or
        ``venv`` (the interpreter's own, e.g. inside a target's container).
    :param require_hashes: replay a lock: ``pins`` is the whole closure,
        each with its sha256, installed in hash-checking mode; the project
        itself is then installed on its own, without dependencies.
    :param installer: ``pip`` or ``uv`` (see :data:`INSTALLERS`); either
        installs into the same virtualenv, made by virtualenv.
    :param bytecode_cache: take .pyc files compiled before from
        ``cache_dir/bytecode`` (and keep the new ones there).
    :param offline: the installers run without an index (the caller set
        their environment); cached build requirements are used however old.
    :param md5_ahead: start hashing every staged file once the tree is
        written, beside the scan and every later stage
        (:attr:`StagedTree.digests`: a file changed later, by ``strip``,
        is hashed again by the builder).
    :param created: :func:`create` made the virtualenv already, with the
        same arguments.
    :returns: the staged tree and what was installed.
    :raises giftwrap.errors.BuildError: virtualenv, the installer or its
        check failed, or a file still names a build directory.
    :raises giftwrap.errors.MissingToolError: ``installer`` is ``uv`` and
        uv is not installed.
    """
    extras = check_extras(extras)
    check_installer(installer)
    install_path, source_dir, stage_root, work_dir, venv, env = _layout(
        install_path, source_dir, stage_root, work_dir)
    if not created:
        _create(interpreter, venv, install_path, cache_dir, runner, env,
                creator)
    spec = installers.with_extras(str(source_dir), extras)
    constraints = work_dir / 'constraints.txt'
    constraints.write_text(pins.constraints_text())
    tools = _build_tools(venv, build_tools, runner, env, cache_dir,
                         build_tool_hashes or {}, work_dir)
    hashes = dict(build_tool_hashes or {})
    phases = [('pip_dependencies', tuple(pip_dependencies)),
              ('project', (spec, *pins.requirements)),
              ('postinstall_dependencies', tuple(postinstall_dependencies))]
    resolved = None
    if build_tools is None and _takes_build_constraints(venv, installer):
        pinned = buildreqs.pin(
            buildreqs.Context(venv, installer, interpreter, work_dir,
                              cache_dir, runner, env, offline),
            seeded=tools, source_dir=source_dir, constraints=constraints,
            phases=[specs for _, specs in phases])
        tools, hashes = dict(pinned.versions), dict(pinned.hashes)
        # One phase, resolved already: install that resolution as it is.
        if pinned.lock and sum(1 for _, s in phases if s) == 1 and \
                _keeps_seeded(pinned.lock, venv):
            resolved = pinned.lock
    tool = installers.CLASSES[installer](
        venv, constraints, work_dir, cache_dir, runner, env,
        build_constraints=_build_constraint_file(
            venv, tools, work_dir, installer,
            hashes if build_tools is not None else {}))
    compile_later = None
    if resolved is not None and not require_hashes:
        compile_later = _install_beside_build(
            tool, resolved, source_dir, extras, pins.requirements,
            lambda: _compile(venv, install_path, runner, env, work_dir,
                             cache_dir if bytecode_cache else None))
    else:
        # the project as the installer takes it: uv, its wheel, built once
        spec = tool.project(source_dir, extras)
        phases[1] = ('project', (spec, *pins.requirements))
        if require_hashes:
            installers.install_locked(tool, spec, pins, work_dir)
        else:
            for name, specs in phases:
                if specs:
                    tool.install(name, ['--', *specs])
    tool.check()
    if cache_dir is not None and not offline:
        _keep_wheels(venv, work_dir, cache_dir, runner, env)
    report = dataclasses.replace(
        tool.report(pins), build_tools=types.MappingProxyType(tools),
        build_tool_hashes=types.MappingProxyType(
            {n: h for n, h in sorted(hashes.items()) if n in tools}))
    tool.tidy()
    relocate(venv, install_path)
    _compile(venv, install_path, runner, env, work_dir,
             cache_dir if bytecode_cache else None, compile_later)
    config = _copy_config(source_dir, venv, install_path) if include_config \
        else ()
    # one thread: the scan and the stages after it keep the other cores
    ahead = digests.Digests(str(venv), 1, digests.memo_file(
        cache_dir, install_path)) if md5_ahead else None
    elf = scan(venv, (stage_root, work_dir, source_dir, *forbidden),
               install_path, cache_dir / 'scan' if cache_dir else None)
    tree = StagedTree(root=stage_root, install_path=install_path,
                      config_files=config, native=bool(elf), elf_files=elf,
                      digests=ahead,
                      installed=report.installed)
    return tree, report


def create(*, interpreter: Interpreter, stage_root: Path,
           install_path: PurePosixPath, source_dir: Path, work_dir: Path,
           cache_dir: Path | None, runner: Runner,
           creator: str = 'virtualenv') -> None:
    """Make the virtualenv :func:`build` installs into, as it would (then
    give it ``created=True``).  Nothing here needs the checkout, only where
    it will be: a job makes the virtualenv while it clones."""
    install_path, _, _, _, venv, env = _layout(install_path, source_dir,
                                               stage_root, work_dir)
    _create(interpreter, venv, install_path, cache_dir, runner, env, creator)


def _layout(install_path: PurePosixPath, source_dir: Path, stage_root: Path,
            work_dir: Path):
    """The checked install path, the directories made absolute, the staged
    virtualenv's path and the environment of its tools; ``work_dir`` made."""
    install_path = check_install_path(install_path)
    source_dir, stage_root, work_dir = (
        Path(os.path.abspath(p)) for p in (source_dir, stage_root, work_dir))
    work_dir.mkdir(parents=True, exist_ok=True)
    return (install_path, source_dir, stage_root, work_dir,
            stage_root / install_path.relative_to('/'),
            _environment(source_dir, stage_root, work_dir))


def _keep_wheels(venv: Path, work_dir: Path, cache_dir: Path,
                 runner: Runner, env: dict[str, str], strict: bool = False
                 ) -> None:
    """Keep what pip installed and resolved (its reports say) in the
    cache's wheelhouse, for a later ``--offline`` build; what is on this
    machine only in pip's HTTP cache, or nowhere, is fetched by pip (from
    that cache, or the index) once.  (uv's own cache serves it offline.)

    :param strict: a failed download fails (``giftwrap fetch``), rather
        than a warning.
    """
    missing = wheelhouse.keep(sorted(work_dir.glob('*report*.json')),
                              cache_dir, cache_dir / 'pip')
    if not missing:
        return
    LOG.info('downloading %d files into the wheelhouse', len(missing))
    try:
        wheelhouse.download(
            venv / 'bin' / 'python', [f'{u}#sha256={s}' for u, s in missing],
            wheelhouse.cache_wheelhouse(cache_dir), cache_dir, runner, env,
            work_dir)
    except errors.BuildError as exc:
        if strict:
            raise
        # The build itself succeeded; only a later --offline one will miss
        # these (and say so).
        LOG.warning('could not keep %s in the wheelhouse: %s',
                    ', '.join(u.rsplit('/', 1)[-1] for u, _ in missing), exc)


def _fetch_files(venv: Path, work_dir: Path, cache_dir: Path, runner: Runner,
                 env: dict[str, str], tools: Mapping[str, str],
                 tool_hashes: Mapping[str, Sequence[str]]) -> None:
    """The closure's files (named by the resolution's reports) and the
    build tools' (a cached resolution of them names no file) into the
    cache's wheelhouse."""
    _keep_wheels(venv, work_dir, cache_dir, runner, env, strict=True)
    house = wheelhouse.cache_wheelhouse(cache_dir)
    absent = {n: v for n, v in tools.items()
              if not wheelhouse.files_of([house], n, v)}
    for hashed in (True, False):
        wheelhouse.download(
            venv / 'bin' / 'python',
            [_hashed_line(n, v, tool_hashes).rstrip('\n')
             for n, v in absent.items() if bool(tool_hashes.get(n)) == hashed],
            house, cache_dir, runner, env, work_dir, hashed=hashed)


def _keeps_seeded(lock: Path, venv: Path) -> bool:
    """Whether installing ``lock`` leaves the seeded tools as they are.

    An install keeps a seeded setuptools that meets a requirement, where a
    resolution from nothing (``uv pip compile``) picks the index's newest:
    then the resolution is not what the install would have done.
    """
    seeded = installers.seeded(venv)
    return all(seeded.get(canonicalize_name(p['name']), p.get('version'))
               == p.get('version')
               for p in tomllib.loads(lock.read_text()).get('packages', ()))


def _build_tools(venv: Path, wanted: Mapping[str, str] | None,
                 runner: Runner, env: dict[str, str],
                 cache_dir: Path | None,
                 hashes: Mapping[str, Sequence[str]] = types.MappingProxyType({}),
                 work_dir: Path | None = None) -> dict[str, str]:
    """The seeded tools, or a lock's build tools, made so in the venv.

    Without a lock: the seeded pip, setuptools and wheel (:func:`build`
    adds the resolved build requirements; runtime pins are no build
    constraints: upper-constraints' pbr, say, needs a setuptools with
    pkg_resources that the seeded one no longer has).  With a lock: all its
    build tools; the seeded ones are reinstalled at the locked versions if
    they differ (another virtualenv release seeds others), and nothing that
    was not seeded is installed (a locked build requirement such as wheel
    only constrains builds).  Those the lock has hashes for are installed
    in pip's hash-checking mode.
    """
    seeded = installers.seeded(venv)
    if wanted is not None:
        differ = {n: v for n, v in sorted(wanted.items())
                  if n in seeded and seeded[n] != v}
        if differ:
            hashed = all(hashes.get(n) for n in differ)
            requirements = (work_dir or venv) / 'locked-build-tools.txt'
            requirements.write_text(''.join(
                _hashed_line(n, v, hashes if hashed else {})
                for n, v in differ.items()))
            runner.run([str(venv / 'bin' / 'python'), '-m', 'pip', 'install',
                        '--no-compile', *installers.pip_cache_args(cache_dir),
                        '-r', str(requirements)], env=env,
                       what='pip install (locked build tools)')
        return dict(sorted({**seeded, **wanted}.items()))
    return dict(sorted(seeded.items()))


def _takes_build_constraints(venv: Path, installer: str) -> bool:
    """Whether the installer can constrain what sdists build with."""
    # pip's --build-constraint is new in 25.3
    return installer != 'pip' or \
        Version(installers.seeded(venv).get('pip', '0')) >= Version('25.3')


def _build_constraint_file(venv: Path, tools: Mapping[str, str],
                           work_dir: Path, installer: str,
                           hashes: Mapping[str, Sequence[str]] = types.MappingProxyType({})
                           ) -> Path | None:
    """Constraints for building sdists, where the installer takes them.

    :param hashes: a lock's hashes of the build tools: the installer then
        takes only files that have them.  A lock records one for every
        build tool the index gave one for; with any, pip checks every build
        requirement (its hash-checking mode is all or nothing).
    """
    if not _takes_build_constraints(venv, installer):
        LOG.info('pip %s cannot constrain build dependencies',
                 installers.seeded(venv).get('pip'))
        return None
    constrained = {n: v for n, v in tools.items() if n != 'pip'}
    unhashed = sorted(n for n in constrained if hashes and not hashes.get(n))
    if unhashed:
        LOG.warning('the lock has no hash for the build tools %s',
                    ', '.join(unhashed))
    path = work_dir / 'build-constraints.txt'
    path.write_text(''.join(_hashed_line(n, v, hashes)
                            for n, v in constrained.items()))
    return path


def _hashed_line(name: str, version: str,
                 hashes: Mapping[str, Sequence[str]]) -> str:
    """``name==version``, with its ``--hash`` options where there are any
    (name, version and hashes are checked: a lock's values)."""
    line = Pin(name, version).line().rstrip('\n')
    return line + ''.join(f' --hash=sha256:{identifiers.check("sha256", h, name)}'
                          for h in hashes.get(name, ())) + '\n'


def resolve_closure(*, interpreter: Interpreter, source_dir: Path, pins: Pins,
                    extras: tuple[str, ...] = (),
                    pip_dependencies: Sequence[str] = (),
                    postinstall_dependencies: Sequence[str] = (),
                    work_dir: Path, cache_dir: Path | None,
                    runner: Runner, installer: str = 'pip',
                    creator: str = 'virtualenv', offline: bool = False,
                    fetch: bool = False) -> InstallReport:
    """What :func:`build` would install, without installing it.

    pip resolves the whole runtime closure under the pins in a scratch
    virtualenv of the target interpreter (so markers are evaluated for it)
    and reports versions and the hashes the index gives.  It does so for
    either ``installer``: uv can resolve but names no file, so no hash,
    without installing; both honour the pins, and either one replays the
    lock, taking only files with the locked hashes.

    :param offline: as for :func:`build`.
    :param fetch: also put every file the build would install (and the
        build tools) in the cache's wheelhouse (``giftwrap fetch``).
    :raises giftwrap.errors.BuildError: the pins cannot be satisfied, or
        ``installer`` is unknown.
    """
    extras = check_extras(extras)
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
    spec = installers.with_extras(str(source_dir), extras)
    tools = installers.seeded(scratch)
    tool_hashes: dict[str, tuple[str, ...]] = {}
    build_constraints = []
    if _takes_build_constraints(scratch, 'pip'):
        # The lock records the build requirements a build would pin, so a
        # rebuild from it builds the project with the same pbr.
        pinned = buildreqs.pin(
            buildreqs.Context(scratch, 'pip', interpreter, work_dir,
                              cache_dir, runner, env, offline),
            seeded=tools, source_dir=source_dir, constraints=constraints,
            phases=[tuple(pip_dependencies), (spec, *pins.requirements),
                    tuple(postinstall_dependencies)])
        tools, tool_hashes = dict(pinned.versions), dict(pinned.hashes)
        build_constraints = ['--build-constraint', str(_build_constraint_file(
            scratch, tools, work_dir, 'pip'))]
    report = installers.pip_install(
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
    tool_hashes = {n: h for n, h in tool_hashes.items() if n in tools}
    if fetch and cache_dir is not None:
        _fetch_files(scratch, work_dir, cache_dir, runner, env, tools,
                     tool_hashes)
    return InstallReport(*(types.MappingProxyType(dict(sorted(m.items())))
                           for m in (closure, hashes, unpinned, closure,
                                     tools, tool_hashes)))


def check_install_path(install_path: PurePosixPath, where: str | None = None
                       ) -> PurePosixPath:
    """``install_path``, if plain: it is written into scripts and files.

    :raises giftwrap.errors.ManifestError: spaces, ``$(...)``, ``..``.
    """
    text = str(install_path)
    if not _SAFE_PATH.match(text) or '..' in install_path.parts:
        raise errors.ManifestError(
            f'install_path {text!r} is not a plain absolute path', where=where,
            hint='use an absolute path of letters, digits and . _ + - '
                 '(e.g. /opt/openstack/2025.1/nova)')
    return PurePosixPath(text)


def check_extras(extras: Sequence[str], where: str | None = None
                 ) -> tuple[str, ...]:
    """``extras``, if each is a name: they go inside ``project[...]``.

    :raises giftwrap.errors.ManifestError: ``]``, ``,`` or an option.
    """
    for extra in extras:
        if not _EXTRA.match(extra):
            raise errors.ManifestError(f'{extra!r} is not an extra name',
                                       where=where,
                                       hint='extras are names like "mysql"')
    return tuple(extras)


def _environment(source_dir: Path, stage_root: Path, work_dir: Path
                 ) -> dict[str, str]:
    """The environment of pip and the interpreter.

    Compiled extensions record their build directory in debug information;
    the prefix maps make them record ``.`` instead.  pbr writes a
    ``ChangeLog`` of the whole git history into the checkout on every
    build-backend call (three per install); it goes into sdists only, never
    into a wheel, so it is skipped (0.1 s a call for 15,000 commits).
    """
    maps = {str(p) for d in (source_dir, stage_root, work_dir)
            for p in (Path(os.path.abspath(d)), Path(os.path.realpath(d)))}
    flags = ' '.join(f'-ffile-prefix-map={p}=.' for p in
                     sorted(maps, key=len, reverse=True))
    return base_environment(PIP_DISABLE_PIP_VERSION_CHECK='1',
                            PIP_NO_INPUT='1', PYTHONDONTWRITEBYTECODE='1',
                            SKIP_WRITE_GIT_CHANGELOG='1',
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
    atomic.replace_bytes(cfg, ''.join(
        (command if line.split('=', 1)[0].strip() == 'command' else line)
        + '\n' for line in lines).encode())


def _install_beside_build(tool, resolved: Path, source_dir: Path,
                          extras: Sequence[str], requirements: Sequence[str],
                          early) -> Path:
    """Build the project's wheel on a thread of its own while the rest of
    the resolved closure is installed and ``early`` (byte-compiling it)
    runs, then install the wheel as :meth:`install_resolved` would.

    The build backend runs on one core (keystone: 1.2 s); installing the
    ~100 other distributions and compiling them (0.5 s) takes the other.
    :returns: a file listing the modules installed after ``early`` ran
        (the project's, and any distribution uv installed with it), for
        ``bytecode.py --only``.
    """
    site = site_packages(tool.venv)
    with concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix='wheel') as pool:
        wheel = pool.submit(tool.project, source_dir, extras)
        try:
            tool.install_closure(resolved)
            early()
        except BaseException:
            concurrent.futures.wait([wheel])
            raise
        spec = wheel.result()
    before = {p.name for p in site.glob('*.dist-info')}
    tool.install_resolved('project', resolved, (spec, *requirements))
    later = sorted(
        module for info in site.glob('*.dist-info') if info.name not in before
        for module in _record_modules(info))
    listed = tool.work_dir / 'compile-later.txt'
    listed.write_text(''.join(f'{m}\n' for m in later))
    return listed


def _record_modules(info: Path) -> list[str]:
    """The ``.py`` files a distribution's RECORD lists in site-packages."""
    try:
        rows = csv.reader(info.joinpath('RECORD').read_text(
            encoding='utf-8').splitlines())
    except OSError:
        return []
    return [os.path.normpath(row[0]) for row in rows if row and
            row[0].endswith('.py') and not row[0].startswith(('../', '/'))]


def _compile(venv: Path, install_path: PurePosixPath, runner: Runner,
             env: dict[str, str], work_dir: Path,
             cache_dir: Path | None, only: Path | None = None) -> None:
    """Byte-compile site-packages, recording the installed source paths.

    checked-hash byte-code carries the source's hash, not its mtime, so it
    is reproducible and stays valid whatever the package's mtimes.  The
    virtualenv's interpreter runs :mod:`giftwrap.venv.bytecode` (a copy in the
    work directory, which a target's container sees), which keeps every
    .pyc in ``cache_dir/bytecode`` and compiles only what it has not seen.

    :param only: a file listing the modules to compile (relative to
        site-packages), the others being compiled already.
    """
    site = site_packages(venv)
    recorded = install_path / site.relative_to(venv).as_posix()
    script = work_dir / 'bytecode.py'
    shutil.copyfile(Path(__file__).with_name('bytecode.py'), script)
    cache = [str(cache_dir / 'bytecode')] if cache_dir is not None else []
    subset = [f'--only={only}'] if only is not None else []
    result = runner.run([str(venv / 'bin' / 'python'), '-I', str(script),
                         *subset, str(site), str(recorded), *cache], env=env,
                        check=False, what='byte-compile')
    # Some distributions ship modules for other Pythons (or templates named
    # .py); pip skips those too, so a failure is worth a warning only.
    if result.returncode != 0:
        LOG.warning('some modules did not byte-compile:\n%s', result.tail())


def _copy_config(source_dir: Path, venv: Path, install_path: PurePosixPath
                 ) -> tuple[PurePosixPath, ...]:
    """Copy the project's ``etc/`` to ``<venv>/etc``; returns target paths.

    A link in ``etc/`` (or ``etc`` itself) that leads out of the checkout
    is refused: the copy must never carry the build machine's files.  A
    file the install put in ``<venv>/etc`` may be a hard link into uv's
    cache: each copy is a new file renamed over it.
    """
    etc = source_dir / 'etc'
    links.check(etc, str(source_dir), root=source_dir,
                when='(include_config copies etc/)')
    if not etc.is_dir():
        raise errors.BuildError(
            'include_config is set but the source has no etc/ directory',
            where=str(source_dir),
            hint='set include_config: false for this project')
    shutil.copytree(etc, venv / 'etc', symlinks=True, dirs_exist_ok=True,
                    copy_function=atomic.copy_over)
    return tuple(sorted(
        install_path / p.relative_to(venv).as_posix()
        for p in (venv / 'etc').rglob('*')
        if p.is_file() and not p.is_symlink()))

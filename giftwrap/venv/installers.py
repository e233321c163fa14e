"""The installers: pip and uv putting a closure into a virtualenv.

Both install under the same constraints into a virtualenv giftwrap made,
and report what they installed (versions, and the hashes of the files
they took) as one :class:`InstallReport`, whichever ran.  A new installer
is one more class here and a name in :data:`INSTALLERS`.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import os
import re
import types
from pathlib import Path
from typing import Mapping, Sequence

from packaging.markers import InvalidMarker, Marker
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name, parse_wheel_filename

from giftwrap import errors
from giftwrap.util import identifiers
from giftwrap.util.process import Runner, find_tool, network_hint
from giftwrap.resolve.base import Pins

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover
    tomllib = None

LOG = logging.getLogger(__name__)

#: Distributions virtualenv seeds; they are not part of the project's closure.
SEEDED = frozenset({'pip', 'setuptools', 'wheel'})
#: The installers a manifest may choose (``installer:``).
INSTALLERS = ('pip', 'uv')


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
    #: name -> the sha256s the index gave for each build tool's version
    #: (any file of it: the wheels and the sdist), where it gave them.
    build_tool_hashes: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}))


def seeded(venv: Path) -> dict[str, str]:
    """What virtualenv (or ensurepip) put in the new environment."""
    return {canonicalize_name(d.metadata['Name']): d.version
            for d in importlib.metadata.distributions(
                path=[str(site_packages(venv))])
            if canonicalize_name(d.metadata['Name']) in SEEDED}


def site_packages(venv: Path) -> Path:
    """The virtualenv's one ``lib/pythonX.Y/site-packages``."""
    found = sorted(venv.glob('lib/*/site-packages'))
    if len(found) != 1:
        raise errors.BuildError(f'expected one lib/*/site-packages in {venv}, '
                                f'found {len(found)}')
    return found[0]


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
        uv_binary()


def pip_cache_args(cache_dir: Path | None) -> list[str]:
    """pip's cache option: giftwrap's ``cache_dir/pip``, else no cache."""
    return (['--cache-dir', str(cache_dir / 'pip')] if cache_dir is not None
            else ['--no-cache-dir'])


def uv_environment(env: Mapping[str, str], cache_dir: Path | None
                   ) -> dict[str, str]:
    """``env`` for running uv: the cache is giftwrap's choice (its
    ``cache_dir/uv``, else none); index settings stay the operator's.

    uv would also read a ``uv.toml`` or a ``pyproject.toml`` with a
    ``[tool.uv]`` table from its working directory or any directory above
    it: the work directory's parents, which may be a merge request's
    checkout (``--work-dir ./work``) whose file would choose the index.
    So uv discovers no configuration (``UV_NO_CONFIG``) and is given the
    operator's own file (:func:`operator_uv_config`), as pip reads only
    its user's and the system's ``pip.conf``.  (In a target's container,
    uv reads the image's own: see :mod:`giftwrap.plan.targets`.)
    """
    env = dict(env)
    if cache_dir is not None:
        env['UV_CACHE_DIR'] = str(cache_dir / 'uv')
    else:
        env['UV_NO_CACHE'] = '1'
    env['UV_NO_CONFIG'] = '1'
    config = operator_uv_config()
    if config is not None:
        env['UV_CONFIG_FILE'] = str(config)
    return env


def operator_uv_config(environ: Mapping[str, str] | None = None
                       ) -> Path | None:
    """The uv configuration file the operator gave uv, where uv itself
    would look: ``UV_CONFIG_FILE``; else the user's (``$XDG_CONFIG_HOME``
    or ``~/.config``, ``uv/uv.toml``); else the system's
    (``$XDG_CONFIG_DIRS``, default ``/etc/xdg``, then ``/etc``).  One
    file: uv merges the user's over the system's; giftwrap gives it the
    first there is."""
    environ = os.environ if environ is None else environ
    if environ.get('UV_CONFIG_FILE'):
        return Path(environ['UV_CONFIG_FILE'])
    home = environ.get('HOME')
    user = environ.get('XDG_CONFIG_HOME') or (
        os.path.join(home, '.config') if home else '')
    system = (environ.get('XDG_CONFIG_DIRS') or '/etc/xdg').split(':')
    for top in [user, *system, '/etc']:
        if top and os.path.isabs(top) and \
                os.path.isfile(os.path.join(top, 'uv', 'uv.toml')):
            return Path(top, 'uv', 'uv.toml')
    return None


#: Options of every ``uv pip install`` and ``uv pip compile``: the index
#: and the pins decide where a distribution comes from, as with pip, never
#: a ``[tool.uv.sources]`` table in the project's (untrusted) pyproject.toml,
#: which would take a dependency from a path, a URL or a git repository.
UV_SAFE = ('--no-sources',)

#: What uv prints, offline, for a file its cache does not have.
_UV_NOT_CACHED = re.compile(r'network was disabled|Network connectivity is '
                            r'disabled|not found in the cache')

#: What pip and uv print when a file has another hash than a lock's.
_HASH_MISMATCH = re.compile(
    r'DO NOT MATCH THE HASHES|Hash mismatch for|In --require-hashes mode, '
    r'all requirements must have')


def failure_hint(output: str | None, tool: str) -> str:
    """What to do about a failed install, from ``tool``'s output: the
    network, a file that is not the one a lock recorded, or the pins."""
    if network_hint(output):
        return network_hint(output)
    if output and _HASH_MISMATCH.search(output):
        return ('a file the index serves does not have the sha256 the lock '
                'recorded (see the expected and the computed hashes above): '
                'the index now serves other bytes for that version, a '
                're-uploaded or tampered release; find out why before '
                'regenerating the lock with giftwrap lock')
    return ('the pins (constraints) and the requirements conflict, or a '
            f'pinned version does not exist: see {tool}\'s output above')


def _build_hint(output: str | None) -> str:
    """What to do about a failed wheel build: the network or a build
    tool's hash (as :func:`failure_hint`), else the build itself."""
    if network_hint(output) or output and _HASH_MISMATCH.search(output):
        return failure_hint(output, 'uv')
    return ('the build backend failed (see its output above): fix the '
            'project\'s build, or the pins of its build requirements')


def with_extras(spec: str, extras: Sequence[str]) -> str:
    """``spec[extra,...]``, or ``spec`` without extras."""
    return f'{spec}[{",".join(extras)}]' if extras else spec


def pip_install(venv: Path, phase: str, specs: Sequence[str],
                constraints: Path, work_dir: Path, cache_dir: Path | None,
                runner: Runner, env: dict[str, str], *,
                options_first: bool = False) -> dict:
    """Install ``specs`` under the constraints; returns pip's report.

    :param options_first: ``specs`` are giftwrap's own options and files
        (never manifest values), which must come before ``--``.
    """
    report = work_dir / f'pip-report-{phase.replace(" ", "-")}.json'
    tail = list(specs) if options_first else ['--', *specs]
    argv = [str(venv / 'bin' / 'python'), '-m', 'pip', 'install',
            '--no-compile', '--progress-bar', 'off', '-c', str(constraints),
            '--report', str(report), *pip_cache_args(cache_dir), *tail]
    try:
        runner.run(argv, env=env, what=f'pip install ({phase})')
    except errors.CommandError as exc:
        hint = failure_hint(exc.output, 'pip')
        raise errors.BuildError(
            f'pip could not install the {phase.replace("_", " ")}',
            output=exc.output,
            hint=f'{hint}; {exc.hint}' if exc.hint else hint) from exc
    return json.loads(report.read_text())


def install_locked(tool: '_Pip', spec: str, pins: Pins, work_dir: Path
                   ) -> None:
    """Install a lock's closure with hashes checked, then the project."""
    unhashed = sorted(str(p) for p in pins.pins.values() if not p.sha256)
    if unhashed:
        raise errors.BuildError(
            'the lock has no sha256 for ' + ', '.join(unhashed),
            hint='regenerate the lock (giftwrap lock, or a build without '
                 '--lock) from a package index that serves hashes')
    locked = work_dir / 'locked-requirements.txt'
    locked.write_text(''.join(p.line(hashed=True)
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

    def project(self, source_dir: Path, extras: Sequence[str]) -> str:
        """What to install for the project: its checkout, which pip builds
        (preparing its metadata, then building the wheel with it)."""
        return with_extras(str(source_dir), extras)

    def install(self, phase: str, args: Sequence[str]) -> None:
        if self.build_constraints is not None:
            args = ['--build-constraint', str(self.build_constraints), *args]
        self.reports.append(pip_install(
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
        self.uv = uv_binary()
        #: the pylock.toml installed, if the install was one
        self.resolved: Path | None = None
        self.env = uv_environment(self.env, self.cache_dir)

    def run(self, args: Sequence[str], what: str, check: bool = True):
        # No uv.toml or pyproject.toml configures it: see uv_environment.
        return self.runner.run(
            [self.uv, 'pip', *args], cwd=self.work_dir, env=self.env,
            check=check, what=what)

    def project(self, source_dir: Path, extras: Sequence[str]) -> str:
        """The project's wheel, built by ``uv build`` under the build
        constraints, from uv's cache alone first (as :meth:`install_resolved`).

        ``uv pip install`` of the checkout would run the build backend
        twice: once to prepare the metadata it resolves with, then to build
        the wheel (keystone: 0.4 s of 1.8 s).  The wheel's metadata serves
        the resolution as well.  Built directly, a pbr project's wheel
        carries the ``AUTHORS`` pbr writes, not the one committed (see
        ``installer`` in the manifest's documentation).
        """
        out = self.work_dir / 'project-wheel'
        argv = [self.uv, 'build', *UV_SAFE, '--wheel', '--python',
                str(self.venv / 'bin' / 'python'), '--out-dir', str(out)]
        if self.build_constraints is not None:
            argv += ['--build-constraints', str(self.build_constraints)]
        try:
            try:
                self.runner.run([*argv, '--offline', '--', str(source_dir)],
                                cwd=self.work_dir, env=self.env,
                                what='uv build (project, from the cache)')
            except errors.CommandError as exc:
                if not _UV_NOT_CACHED.search(exc.output or ''):
                    raise
                LOG.info('the build requirements are not all in uv\'s '
                         'cache: asking the index')
                self.runner.run([*argv, '--', str(source_dir)],
                                cwd=self.work_dir, env=self.env,
                                what='uv build (project)')
        except errors.CommandError as exc:
            raise errors.BuildError(
                'uv could not build the project\'s wheel',
                output=exc.output,
                hint=_build_hint(exc.output)
                + (f'; {exc.hint}' if exc.hint else '')) from exc
        wheels = sorted(out.glob('*.whl'))
        if len(wheels) != 1:
            raise errors.BuildError(
                f'uv build left {len(wheels)} wheels in {out}, not one',
                hint='report this: giftwrap expects one wheel per project')
        return with_extras(str(wheels[0]), extras)

    def install(self, phase: str, args: Sequence[str]) -> None:
        # uv compiles no byte-code unless asked: giftwrap compiles later.
        if self.build_constraints is not None:
            args = ['--build-constraint', str(self.build_constraints), *args]
        argv = ['install', *UV_SAFE, '--python',
                str(self.venv / 'bin' / 'python'), '--link-mode',
                self.link_mode(), '-c', str(self.constraints), *args]
        try:
            self.run(argv, f'uv pip install ({phase})')
        except errors.CommandError as exc:
            raise errors.BuildError(
                f'uv could not install the {phase.replace("_", " ")}',
                output=exc.output,
                hint=failure_hint(exc.output, 'uv')
                + (f'; {exc.hint}' if exc.hint else '')) from exc

    def link_mode(self) -> str:
        """``hardlink`` with a cache: a rebuild links the closure's files
        from ``cache_dir/uv`` instead of copying them (uv copies by itself
        where links fail, e.g. the cache on another file system).  Nothing
        writes a staged file in place afterwards (see
        :func:`giftwrap.util.atomic.replace_bytes`), so the cache stays as
        uv made it.  Without a cache, uv's files are temporary: copies."""
        no_cache = self.env.get('UV_NO_CACHE', '').lower()
        return 'copy' if self.cache_dir is None or no_cache not in (
            '', '0', 'false', 'no', 'off') else 'hardlink'

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
        exact.write_text(''.join(f'{name}=={version}\n' for name, version, _
                                 in _resolved(lock)))
        args = ['-c', str(exact), '--', *specs]
        try:
            self.install(phase, ['--offline', *args])
        except errors.BuildError:
            LOG.info('not everything %s needs is in uv\'s cache: asking '
                     'the index', phase)
            self.install(phase, args)
        self.resolved = lock

    def install_closure(self, lock: Path) -> None:
        """Install every distribution ``lock`` resolved but the project
        (``--no-deps``: the lock is the whole closure), from uv's cache
        first, as :meth:`install_resolved`; the project comes after."""
        closure = self.work_dir / 'resolved-closure.txt'
        closure.write_text(''.join(
            f'{name}=={version}' + (f' ; {marker}' if marker else '') + '\n'
            for name, version, marker in _resolved(lock)))
        args = ['--no-deps', '-r', str(closure)]
        try:
            self.install('closure', ['--offline', *args])
        except errors.BuildError:
            LOG.info('not all of the closure is in uv\'s cache: asking the '
                     'index')
            self.install('closure', args)

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


CLASSES = {'pip': _Pip, 'uv': _Uv}


def _resolved(lock: Path) -> list[tuple[str, str, str]]:
    """(name, version, marker) of every distribution uv's pylock.toml
    resolved but the project (a directory); each a plain name, an exact
    version and a marker packaging parses, before any is written into a
    requirements file (the lock may come from the cache).

    :raises giftwrap.errors.BuildError: one is not.
    """
    found = []
    for package in tomllib.loads(lock.read_text()).get('packages', ()):
        if 'version' not in package or 'directory' in package:
            continue
        name, version = package.get('name'), package['version']
        marker = package.get('marker') or ''
        try:
            if marker:
                # One line: an older packaging parses a marker's first line.
                marker = str(Marker(marker)) if marker.isprintable() \
                    else None
        except (InvalidMarker, TypeError, AttributeError):
            marker = None
        if not (identifiers.is_valid('name', name) and
                identifiers.is_valid('version', version)) or marker is None:
            found_as = f'{name!r} {version!r}' + (
                f' ; {package["marker"]!r}' if package.get('marker') else '')
            raise errors.BuildError(
                f'the resolution in {lock} names {found_as}: not a plain '
                'name, version and marker',
                hint='remove the cached resolution (giftwrap cache prune '
                     '--kind discover) and build again')
        found.append((name, version, marker))
    return found


def uv_binary() -> str:
    """The uv program (beside giftwrap or on PATH).

    :raises giftwrap.errors.MissingToolError: uv is not installed.
    """
    found = find_tool('uv')
    if found is None:
        raise errors.MissingToolError(
            'uv is not installed',
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
        uv.run(['compile', *UV_SAFE, '--python',
                str(uv.venv / 'bin' / 'python'),
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

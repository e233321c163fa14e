"""The virtualenv stage: build a project's virtualenv where it will live.

The virtualenv is created at ``stage_root/<install_path>`` (no root needed),
the project and its pinned closure are installed with pip, and the tree is
then *relocated*: every mention of the staging directory becomes the
install path, so the tree can be packaged and installed at ``install_path``
as if it had been built there.  A final scan fails the build if any file
still names a build directory; a mistake there would ship a package that
only works on the build machine.
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

from packaging.utils import canonicalize_name

from giftwrap import errors
from giftwrap.builders.base import StagedTree
from giftwrap.interpreter import Interpreter
from giftwrap.process import Runner, base_environment
from giftwrap.sources.base import Pins

LOG = logging.getLogger(__name__)

#: Distributions virtualenv seeds; they are not part of the project's closure.
SEEDED = frozenset({'pip', 'setuptools', 'wheel'})
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


def build(*, interpreter: Interpreter, stage_root: Path,
          install_path: PurePosixPath, source_dir: Path, pins: Pins,
          extras: tuple[str, ...] = (), pip_dependencies: Sequence[str] = (),
          postinstall_dependencies: Sequence[str] = (),
          include_config: bool = False, work_dir: Path,
          cache_dir: Path | None, runner: Runner,
          forbidden: tuple[Path, ...] = (),
          require_hashes: bool = False) -> tuple[StagedTree, InstallReport]:
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
    :param cache_dir: giftwrap's cache; pip's goes in ``cache_dir/pip``.
    :param forbidden: more directories no file may mention.
    :param require_hashes: replay a lock: ``pins`` is the whole closure,
        each with its sha256, installed in pip's hash-checking mode; the
        project itself is then installed on its own, without dependencies.
    :returns: the staged tree and what pip installed.
    :raises giftwrap.errors.BuildError: virtualenv, pip or ``pip check``
        failed, or a file still names a build directory.
    """
    install_path = _check_install_path(install_path)
    extras = _check_extras(extras)
    source_dir = Path(os.path.abspath(source_dir))
    stage_root, work_dir = (Path(os.path.abspath(p)) for p in (stage_root, work_dir))
    venv = stage_root / install_path.relative_to('/')
    work_dir.mkdir(parents=True, exist_ok=True)
    env = _environment(source_dir, stage_root, work_dir)
    _create(interpreter, venv, install_path, cache_dir, runner, env)
    spec = f'{source_dir}[{",".join(extras)}]' if extras else str(source_dir)
    constraints = work_dir / 'constraints.txt'
    constraints.write_text(pins.constraints_text())
    if require_hashes:
        reports = _install_locked(venv, spec, pins, constraints, work_dir,
                                  cache_dir, runner, env)
    else:
        phases = [('pip_dependencies', tuple(pip_dependencies)),
                  ('project', (spec, *pins.requirements)),
                  ('postinstall_dependencies', tuple(postinstall_dependencies))]
        reports = [_pip_install(venv, name, specs, constraints, work_dir,
                                cache_dir, runner, env)
                   for name, specs in phases if specs]
    _pip_check(venv, runner, env)
    relocate(venv, install_path)
    _compile(venv, install_path, runner, env)
    config = _copy_config(source_dir, venv, install_path) if include_config \
        else ()
    native = scan(venv, (stage_root, work_dir, source_dir, *forbidden),
                  install_path)
    report = _install_report(_site_packages(venv), reports, pins)
    tree = StagedTree(root=stage_root, install_path=install_path,
                      config_files=config, native=native,
                      installed=report.installed)
    return tree, report


def resolve_closure(*, interpreter: Interpreter, source_dir: Path, pins: Pins,
                    extras: tuple[str, ...] = (),
                    pip_dependencies: Sequence[str] = (),
                    postinstall_dependencies: Sequence[str] = (),
                    work_dir: Path, cache_dir: Path | None,
                    runner: Runner) -> InstallReport:
    """What :func:`build` would install, without installing it.

    pip resolves the whole runtime closure under the pins in a scratch
    virtualenv of the target interpreter (so markers are evaluated for it)
    and reports versions and the hashes the index gives.

    :raises giftwrap.errors.BuildError: the pins cannot be satisfied.
    """
    extras = _check_extras(extras)
    source_dir = Path(os.path.abspath(source_dir))
    work_dir = Path(os.path.abspath(work_dir))
    work_dir.mkdir(parents=True, exist_ok=True)
    env = _environment(source_dir, work_dir, work_dir)
    scratch = work_dir / 'resolve-venv'
    argv = [sys.executable, '-m', 'virtualenv', '--no-download',
            '--no-periodic-update', '--no-vcs-ignore', '-p',
            str(interpreter.path)]
    if cache_dir is not None:
        argv += ['--app-data', str(cache_dir / 'virtualenv')]
    runner.run([*argv, '--', str(scratch)], env=env, what='virtualenv')
    constraints = work_dir / 'constraints.txt'
    constraints.write_text(pins.constraints_text())
    spec = f'{source_dir}[{",".join(extras)}]' if extras else str(source_dir)
    report = _pip_install(
        scratch, 'resolve', ['--dry-run', '--ignore-installed', '--',
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
                           for m in (closure, hashes, unpinned, closure)))


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
            cache_dir: Path | None, runner: Runner, env: dict[str, str]
            ) -> None:
    if venv.exists() and any(venv.iterdir()):
        raise errors.BuildError(
            f'the staging directory {venv} is not empty',
            hint='remove it; each build needs a fresh staging root')
    argv = [sys.executable, '-m', 'virtualenv', '--no-download',
            '--no-periodic-update', '--no-vcs-ignore',
            '-p', str(interpreter.path)]
    if cache_dir is not None:
        argv += ['--app-data', str(cache_dir / 'virtualenv')]
    runner.run([*argv, '--', str(venv)], env=env, what='virtualenv')
    _rewrite_pyvenv_cfg(venv, interpreter, install_path)


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


def _install_locked(venv: Path, spec: str, pins: Pins, constraints: Path,
                    work_dir: Path, cache_dir: Path | None, runner: Runner,
                    env: dict[str, str]) -> list[dict]:
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
    reports = [_pip_install(venv, 'locked pins', ['--require-hashes',
                                                  '--no-deps', '-r', str(locked)],
                            constraints, work_dir, cache_dir, runner, env,
                            options_first=True)]
    reports.append(_pip_install(venv, 'project', ['--no-deps', '--', spec],
                                constraints, work_dir, cache_dir, runner, env,
                                options_first=True))
    return reports


def _pip_check(venv: Path, runner: Runner, env: dict[str, str]) -> None:
    result = runner.run([str(venv / 'bin' / 'python'), '-m', 'pip', 'check'],
                        env=env, check=False, what='pip check')
    if result.returncode != 0:
        raise errors.BuildError(
            'pip check found broken requirements in the virtualenv',
            output=result.tail(),
            hint='a postinstall or pip dependency replaced a version the '
                 'project needs; fix the pins or the dependencies')


def _rewrite_pyvenv_cfg(venv: Path, interpreter: Interpreter,
                        install_path: PurePosixPath) -> None:
    """Make ``command`` say how to recreate the virtualenv where it lives.

    virtualenv records its whole command line, build paths included.
    """
    cfg = venv / 'pyvenv.cfg'
    lines = cfg.read_text().splitlines()
    command = f'command = virtualenv -p {interpreter.path} {install_path}'
    cfg.write_text(''.join(
        (command if line.split('=', 1)[0].strip() == 'command' else line)
        + '\n' for line in lines))


def relocate(venv: Path, install_path: PurePosixPath) -> None:
    """Replace the staging path by ``install_path`` in the virtualenv.

    Rewrites the scripts and activate scripts in ``bin`` and ``pyvenv.cfg``,
    removes ``direct_url.json`` of distributions installed from a local path
    (it names the checkout) and updates the ``RECORD`` of each distribution
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
    site = _site_packages(venv)
    removed = _remove_local_direct_urls(site)
    _fix_records(site, changed, removed)
    LOG.debug('relocated %d files to %s', len(changed), install_path)


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
             env: dict[str, str]) -> None:
    """Byte-compile site-packages, recording the installed source paths."""
    site = _site_packages(venv)
    recorded = install_path / site.relative_to(venv).as_posix()
    argv = [str(venv / 'bin' / 'python'), '-m', 'compileall', '-q', '-f',
            '-d', str(recorded)]
    if env.get('SOURCE_DATE_EPOCH'):
        argv += ['--invalidation-mode', 'checked-hash']
    result = runner.run([*argv, '--', str(site)], env=env, check=False,
                        what='compileall')
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
    offenders, native = [], False
    for path in _walk(venv):
        if path.is_symlink():
            hit = pattern and pattern.search(os.fsencode(os.readlink(path)))
        else:
            elf, hit = _scan_file(path, pattern)
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


def _scan_file(path: Path, pattern: re.Pattern | None
               ) -> tuple[bool, re.Match | None]:
    """Whether ``path`` is ELF, and the first forbidden path it contains."""
    if not path.is_file():
        return False, None
    overlap = max(len(pattern.pattern), 1) if pattern else 1
    with open(path, 'rb') as stream:
        chunk = stream.read(_CHUNK)
        elf = chunk.startswith(ELF_MAGIC)
        tail = b''
        while chunk and pattern is not None:
            hit = pattern.search(tail + chunk)
            if hit:
                return elf, hit
            tail = (tail + chunk)[-overlap:]
            chunk = stream.read(_CHUNK)
    return elf, None


def _site_packages(venv: Path) -> Path:
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
    hashes, closure = {}, set()
    for report in reports:
        for item in report.get('install', ()):
            name = canonicalize_name(item['metadata']['name'])
            info = item.get('download_info', {})
            sha = info.get('archive_info', {}).get('hashes', {}).get('sha256')
            if sha:
                hashes[name] = sha
            if 'dir_info' not in info:
                closure.add(name)
    unpinned = {n: installed[n] for n in sorted(closure)
                if n in installed and n not in pins.pins}
    return InstallReport(types.MappingProxyType(dict(sorted(installed.items()))),
                         types.MappingProxyType(hashes),
                         types.MappingProxyType(unpinned),
                         types.MappingProxyType(
                             {n: installed[n] for n in sorted(closure)
                              if n in installed}))

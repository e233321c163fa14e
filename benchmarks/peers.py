"""The tools giftwrap is measured against, building the same .deb.

- **dh-virtualenv** (Debian's package): ``dpkg-buildpackage -b -us -uc`` on
  a fresh clone of the project with a generated ``debian/`` directory;
  ``dh_virtualenv`` runs pip under the same upper-constraints.
- **fpm** ``-s virtualenv``: pip under the same constraints, packaged by fpm
  (only where ``fpm`` is on PATH).  fpm runs ``virtualenv`` and
  ``virtualenv-tools`` (PyPI's ``virtualenv-tools3``), which the benchmark
  installs into a virtualenv of its own whose ``bin`` it puts first on
  fpm's PATH; fpm's pip gets the index pip is configured with
  (``--virtualenv-pypi``: fpm's own default is pypi.python.org).

Each peer gets a clean clone per build, as a CI job would, with its pip
cache under the benchmark's directory (empty for the cold scenario).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Mapping

from giftwrap.util.process import Runner, base_environment

import trash

#: What dh-virtualenv needs, from Debian (the benchmark installs it).
DH_PACKAGES = ('dh-virtualenv', 'debhelper', 'python3-virtualenv',
               'dpkg-dev')
SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


@dataclasses.dataclass(frozen=True)
class Build:
    """One peer build: the project's repository and where to work."""

    name: str
    version: str
    repo: Path
    constraints: Path
    work: Path
    cache: Path
    #: the .deb's compression (xz, zstd or gzip); None keeps the tool's
    compression: str | None = None


def missing_dh_packages(runner: Runner) -> list[str]:
    """The Debian packages of :data:`DH_PACKAGES` not installed."""
    missing = []
    for package in DH_PACKAGES:
        result = runner.run(['dpkg-query', '-W', '-f', '${Status}', '--',
                             package], check=False)
        if 'install ok installed' not in result.output:
            missing.append(package)
    return missing


def install_dh_virtualenv(runner: Runner) -> None:
    """Install dh-virtualenv and what it needs with apt-get (as root)."""
    missing = missing_dh_packages(runner)
    if not missing:
        return
    env = base_environment(DEBIAN_FRONTEND='noninteractive')
    runner.run(['apt-get', 'update', '-qq'], env=env, what='apt-get update')
    runner.run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends',
                '--', *missing], env=env, what='apt-get install')


def _clone(build: Build) -> Path:
    src = build.work / build.name
    trash.discard(build.work)
    build.work.mkdir(parents=True)
    Runner().run(['git', 'clone', '--quiet', '--', str(build.repo), str(src)],
                 what='git clone')
    return src


def _environment(build: Build) -> dict[str, str]:
    """The system's tools (not giftwrap's interpreter) and our pip cache."""
    home = build.cache / 'home'
    home.mkdir(parents=True, exist_ok=True)
    return base_environment(PATH=SYSTEM_PATH, HOME=str(home),
                            PIP_CACHE_DIR=str(build.cache / 'pip'),
                            PIP_DISABLE_PIP_VERSION_CHECK='1',
                            DEB_BUILD_OPTIONS='nocheck')


def dh_virtualenv(build: Build, runner: Runner) -> Path:
    """Clone and build the project with dh-virtualenv; returns the .deb."""
    src = _clone(build)
    _write_debian(src / 'debian', build)
    runner.run(['dpkg-buildpackage', '-b', '-us', '-uc'], cwd=src,
               env=_environment(build), what='dpkg-buildpackage')
    debs = sorted(build.work.glob(f'openstack-{build.name}_*.deb'))
    if not debs:
        raise SystemExit(f'dpkg-buildpackage made no .deb in {build.work}')
    return debs[0]


def _write_debian(debian: Path, build: Build) -> None:
    package = f'openstack-{build.name}'
    (debian / 'source').mkdir(parents=True)
    (debian / 'source' / 'format').write_text('3.0 (native)\n')
    (debian / 'changelog').write_text(
        f'{package} ({build.version}) unstable; urgency=medium\n\n'
        '  * giftwrap benchmark build.\n\n'
        ' -- giftwrap benchmark <bench@example.com>  '
        'Thu, 01 Jan 2026 00:00:00 +0000\n')
    (debian / 'control').write_text(textwrap.dedent(f'''\
        Source: {package}
        Section: python
        Priority: optional
        Maintainer: giftwrap benchmark <bench@example.com>
        Build-Depends: debhelper-compat (= 13), dh-virtualenv, python3
        Standards-Version: 4.6.2

        Package: {package}
        Architecture: any
        Depends: ${{misc:Depends}}, ${{shlibs:Depends}}, python3
        Description: {build.name} in a virtualenv
         Built by giftwrap's benchmark with dh-virtualenv.
        '''))
    rules = debian / 'rules'
    rules.write_text(textwrap.dedent(f'''\
        #!/usr/bin/make -f
        %:
        \tdh $@ --with python-virtualenv

        override_dh_virtualenv:
        \tdh_virtualenv --python /usr/bin/python3 \\
        \t\t--extra-pip-arg=--constraint={build.constraints}

        override_dh_auto_configure:

        # dwz fails on the prebuilt libraries of manylinux wheels;
        # every other step runs as usual.
        override_dh_dwz:
        ''') + _builddeb(build.compression))
    rules.chmod(0o755)


def _builddeb(compression: str | None) -> str:
    if compression is None:
        return ''
    return f'\noverride_dh_builddeb:\n\tdh_builddeb -- -Z{compression}\n'


#: fpm's names for the compressions.
FPM_COMPRESSION = {'xz': 'xz', 'zstd': 'zst', 'gzip': 'gz'}


#: PyPI's index, pip's default
PYPI = 'https://pypi.org/simple'
#: What ``fpm -s virtualenv`` runs, and where each comes from.
FPM_TOOLS = {'virtualenv': 'virtualenv', 'virtualenv-tools': 'virtualenv-tools3'}


@dataclasses.dataclass(frozen=True)
class Fpm:
    """fpm, where its helpers are, and the index its pip is to use."""

    fpm: str
    #: a directory of fpm's helpers, put first on fpm's PATH (or None)
    tools: Path | None = None
    index: str = PYPI
    extra_indexes: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """fpm's PATH: the helpers' directory, then the system's."""
        return (f'{self.tools}:{SYSTEM_PATH}' if self.tools is not None
                else SYSTEM_PATH)


def pip_indexes(config: str, environ: Mapping[str, str]
                ) -> tuple[str, tuple[str, ...]]:
    """The index and extra indexes pip uses, from ``pip config list``'s
    output ``config`` and the environment (which wins, as for pip)."""
    values: dict[str, str] = {}
    for line in config.splitlines():
        key, sep, value = line.partition('=')
        option = key.rpartition('.')[2]
        if sep and option in ('index-url', 'extra-index-url'):
            values[option] = value.strip().strip("'\"")
    index = environ.get('PIP_INDEX_URL') or values.get('index-url') or PYPI
    extra = (environ.get('PIP_EXTRA_INDEX_URL')
             or values.get('extra-index-url') or '')
    return index, tuple(extra.split())


def configured_indexes(runner: Runner) -> tuple[str, tuple[str, ...]]:
    """:func:`pip_indexes` of this machine's pip."""
    result = runner.run([sys.executable, '-m', 'pip', 'config', 'list'],
                        check=False, what='pip config list')
    return pip_indexes(result.output if result.returncode == 0 else '',
                       os.environ)


def install_fpm_tools(dest: Path, runner: Runner) -> Path | None:
    """A virtualenv at ``dest`` with :data:`FPM_TOOLS`; its ``bin``, or
    None when they could not be installed (the log says why)."""
    python = dest / 'bin' / 'python'
    if not all((dest / 'bin' / tool).is_file() for tool in FPM_TOOLS):
        shutil.rmtree(dest, ignore_errors=True)
        steps = ([sys.executable, '-m', 'venv', '--', str(dest)],
                 [str(python), '-m', 'pip', 'install', '--quiet', '--',
                  *FPM_TOOLS.values()])
        for argv in steps:
            if runner.run(argv, check=False,
                          what="fpm's helpers").returncode:
                return None
    return dest / 'bin'


def fpm_missing(fpm: Fpm) -> str | None:
    """What ``fpm -s virtualenv`` needs and cannot find on its PATH (a
    sentence for the table), or None."""
    absent = [f'{tool} (pip install {package})'
              for tool, package in FPM_TOOLS.items()
              if shutil.which(tool, path=fpm.path) is None]
    if not absent:
        return None
    return 'fpm needs ' + ' and '.join(absent) + ' on its PATH'


def fpm_argv(build: Build, fpm: Fpm, requirements: Path, out: Path
             ) -> list[str]:
    """The ``fpm -s virtualenv`` command building ``out``."""
    extra = [arg for url in fpm.extra_indexes
             for arg in ('--virtualenv-pypi-extra-url', url)]
    return [fpm.fpm, '-s', 'virtualenv', '-t', 'deb',
            '--name', f'openstack-{build.name}',
            '--version', build.version, '--package', str(out),
            '--virtualenv-install-location',
            f'/opt/venvs/openstack-{build.name}',
            '--virtualenv-pypi', fpm.index, *extra,
            '--depends', 'python3',
            *(['--deb-compression', FPM_COMPRESSION[build.compression]]
              if build.compression else []),
            '--', str(requirements)]


def fpm_environment(build: Build, fpm: Fpm) -> dict[str, str]:
    """:func:`_environment` with fpm's helpers first on PATH."""
    return {**_environment(build), 'PATH': fpm.path}


def fpm_virtualenv(build: Build, runner: Runner, fpm: Fpm) -> Path:
    """Clone and build the project with ``fpm -s virtualenv``."""
    src = _clone(build)
    requirements = build.work / 'requirements.txt'
    requirements.write_text(f'-c {build.constraints}\n{src}\n')
    out = build.work / f'openstack-{build.name}.deb'
    argv = fpm_argv(build, fpm, requirements, out)
    runner.note(f'fpm PATH: {fpm.path}')
    runner.run(argv, cwd=build.work, env=fpm_environment(build, fpm),
               what='fpm')
    return out

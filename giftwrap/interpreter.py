"""The Python interpreter a project's virtualenv is built for."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from giftwrap import errors
from giftwrap.process import Runner

_PROBE = ('import json, os, platform, sys, sysconfig; print(json.dumps({'
          '"path": os.path.realpath(sys.executable), '
          '"version": platform.python_version(), '
          '"implementation": sys.implementation.name, '
          '"soabi": sysconfig.get_config_var("SOABI") or "", '
          '"platform_machine": platform.machine()}))')


@dataclasses.dataclass(frozen=True)
class Interpreter:
    """A real, versioned interpreter (``/usr/bin/python3.11``).

    :ivar path: the interpreter after following links.
    :ivar version: its full version (``3.11.2``).
    :ivar owner: the system package that owns ``path`` (``python3.11-minimal``),
        or ``None`` if no package does (a pyenv build, say).
    """

    path: Path
    version: str
    implementation: str = 'cpython'
    soabi: str = ''
    platform_machine: str = ''
    owner: str | None = None

    @property
    def short_version(self) -> str:
        """``3.11``"""
        return '.'.join(self.version.split('.')[:2])

    @property
    def package(self) -> str:
        """The package name a deb or rpm depends on: ``python3.11``."""
        return f'python{self.short_version}'

    def marker_environment(self) -> dict[str, str]:
        """Values for evaluating PEP 508 markers for this interpreter."""
        return {
            'python_version': self.short_version,
            'python_full_version': self.version,
            'implementation_name': self.implementation,
            'platform_python_implementation':
                'CPython' if self.implementation == 'cpython' else
                self.implementation,
            'platform_machine': self.platform_machine,
            'sys_platform': 'linux',
            'os_name': 'posix',
            'platform_system': 'Linux',
        }


def resolve(python: str, runner: Runner, *, where: str | None = None
            ) -> Interpreter:
    """Find the real interpreter behind ``python`` and ask it what it is.

    :raises giftwrap.errors.BuildError: it does not exist or does not run.
    """
    missing = errors.BuildError(
        f'the interpreter {python} does not exist', where=where,
        hint='install it (e.g. apt-get install python3) or set "python" '
             'in the manifest to an installed interpreter')
    try:
        # The runner may run it in a container: ask the interpreter itself
        # where it really is.
        result = runner.run([python, '-I', '-c', _PROBE], check=False,
                            what=f'{python} probe')
    except errors.MissingToolError:
        raise missing from None
    if result.returncode != 0:
        missing.output = result.tail()
        raise missing
    info = json.loads(result.output.strip().splitlines()[-1])
    path = Path(info.pop('path'))
    return Interpreter(path=path, owner=_owner(path, runner), **info)


def _owner(path: Path, runner: Runner) -> str | None:
    """The system package that owns ``path`` (dpkg, then rpm), or None."""
    for argv in (['dpkg-query', '-S', str(path)],
                 ['rpm', '-qf', '--qf', '%{NAME}', str(path)]):
        try:
            result = runner.run(argv, check=False)
        except errors.MissingToolError:
            continue
        if result.returncode == 0 and result.output.strip():
            line = result.output.strip().splitlines()[0]
            return line.split(':', 1)[0].strip()
    return None

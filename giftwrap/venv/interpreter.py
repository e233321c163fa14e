"""The Python interpreter a project's virtualenv is built for."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import weakref
from pathlib import Path
from typing import Iterable

from giftwrap import errors
from giftwrap.util.process import Runner

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


# What a probe may answer: a path, versions and names that end up in
# package relations and file names.
_ANSWER = {'path': re.compile(r'/[^\x00-\x1f\x7f]*'),
           'version': re.compile(r'^[0-9]+\.[0-9]+(\.[0-9]+)?[a-z0-9+]*\Z'),
           'implementation': re.compile(r'^[a-z0-9_]+\Z'),
           'soabi': re.compile(r'^[A-Za-z0-9_.-]*\Z'),
           'platform_machine': re.compile(r'^[A-Za-z0-9_.-]*\Z')}
# A package-owned program giftwrap may run as an interpreter: python3,
# python3.11, pypy3, RHEL's platform-python; never /bin/sh or rm.
_PYTHON_NAME = re.compile(r'^(platform-)?(python|pypy)[0-9.]*\Z')
# dpkg-query -S reads its argument as a shell pattern.
_PATTERN = re.compile(r'[*?\[\]\\]')


def trusted(python: str, runner: Runner, operator: Iterable[str] = (), *,
            where: str | None = None) -> str:
    """The real file behind the manifest's ``python``, if giftwrap may run it.

    The manifest is not trusted: it may name only an absolute path that
    resolves to a Python interpreter a system package owns.  The operator's
    ``--interpreter`` paths (``operator``) are trusted as they are.

    :returns: the path with every link followed: the file to run.
    :raises giftwrap.errors.ManifestError: a relative path, or a program no
        package owns that the operator did not name.
    :raises giftwrap.errors.BuildError: it does not exist.
    """
    named = {os.path.realpath(p) for p in operator}
    if not os.path.isabs(python):
        raise errors.ManifestError(
            f'python {python!r} is not an absolute path', where=where,
            hint='name an installed interpreter, e.g. python: /usr/bin/python3')
    real = os.path.realpath(python)
    if not os.path.isfile(real):
        raise _missing(python, where)
    if real in named:
        return real
    owner = None
    if _PYTHON_NAME.fullmatch(os.path.basename(real)) and \
            not _PATTERN.search(real):
        owner = _owner(Path(real), runner)
    if owner is None:
        shown = python if real == python else f'{python} ({real})'
        raise errors.ManifestError(
            f'the interpreter {shown} is no Python interpreter a system '
            f'package owns, so giftwrap will not run it', where=where,
            hint=f'use a distribution interpreter (python: /usr/bin/python3), '
                 f'or trust this one on the command line: --interpreter '
                 f'{real} (a pyenv or other private build, e.g. for the '
                 f'docker builder, needs this)')
    return real


def resolve(python: str, runner: Runner, *, where: str | None = None
            ) -> Interpreter:
    """Find the real interpreter behind ``python`` and ask it what it is.

    Run only a trusted interpreter (:func:`trusted`), or one inside a
    target's container.

    :raises giftwrap.errors.BuildError: it does not exist, does not run or
        does not answer the probe.
    """
    try:
        # The runner may run it in a container: ask the interpreter itself
        # where it really is.
        result = runner.run([python, '-I', '-c', _PROBE], check=False,
                            what=f'{python} probe')
    except errors.MissingToolError:
        raise _missing(python, where) from None
    if result.returncode != 0:
        missing = _missing(python, where)
        missing.output = result.tail()
        raise missing
    info = _answer(result.output, python, where)
    path = Path(info.pop('path'))
    return Interpreter(path=path, owner=_owner(path, runner), **info)


def _missing(python: str, where: str | None) -> errors.BuildError:
    return errors.BuildError(
        f'the interpreter {python} does not exist', where=where,
        hint='install it (e.g. apt-get install python3) or set "python" '
             'in the manifest to an installed interpreter')


def _answer(output: str, python: str, where: str | None) -> dict[str, str]:
    """The probe's JSON line, checked: every key, each a plain value."""
    lines = output.strip().splitlines()
    try:
        info = json.loads(lines[-1]) if lines else None
    except ValueError:
        info = None
    if not isinstance(info, dict) or set(info) != set(_ANSWER) or not all(
            isinstance(v, str) and _ANSWER[k].fullmatch(v)
            for k, v in info.items()):
        raise errors.BuildError(
            f'the interpreter {python} did not answer giftwrap\'s probe '
            f'(one line of JSON)', where=where, output=output[-2000:] or None,
            hint='set "python" to a CPython or PyPy interpreter: '
                 f'{python} -I -c "import sys; print(sys.version)" must work')
    return info


#: the owners already asked, per runner (a target's runner asks inside its
#: container): planning asks for the same interpreter twice, and each
#: ``dpkg-query -S`` reads every package's file list
_OWNERS: 'weakref.WeakKeyDictionary[Runner, dict[str, str | None]]' = \
    weakref.WeakKeyDictionary()


def _owner(path: Path, runner: Runner) -> str | None:
    """The system package that owns ``path`` (dpkg, then rpm), or None."""
    known = _OWNERS.setdefault(runner, {})
    if str(path) not in known:
        known[str(path)] = _ask_owner(path, runner)
    return known[str(path)]


def _ask_owner(path: Path, runner: Runner) -> str | None:
    for argv, parse in (
            (['dpkg-query', '-S', '--', str(path)], _dpkg_owner),
            (['rpm', '-qf', '--qf', '%{NAME}\n', '--', str(path)],
             _rpm_owner)):
        try:
            result = runner.run(argv, check=False)
        except errors.MissingToolError:
            continue
        if result.returncode == 0:
            owner = parse(result.output, str(path))
            if owner:
                return owner
    return None


def _dpkg_owner(output: str, path: str) -> str | None:
    # "python3.11-minimal: /usr/bin/python3.11"; the path must be ours,
    # not one a pattern matched ("diversion by" lines have no ": /").
    for line in output.splitlines():
        packages, sep, owned = line.partition(': ')
        if sep and owned.strip() == path and not packages.startswith(
                ('diversion', 'local diversion')):
            return packages.split(',')[0].split(':')[0].strip()
    return None


def _rpm_owner(output: str, path: str) -> str | None:
    line = output.strip().splitlines()[0] if output.strip() else ''
    return line if re.match(r'^[A-Za-z0-9][A-Za-z0-9._+-]*\Z', line) else None

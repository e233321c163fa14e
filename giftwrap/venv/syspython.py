"""Distribution bindings in the virtualenv: ``system_python_packages``.

Ceph's ``rbd``/``rados``, ``libvirt`` and ``guestfs`` bindings come only
from distribution packages.  As OpenStack-Ansible's
``venv_packages_to_symlink`` does, giftwrap links the named packages'
top-level modules (and their ``.dist-info``/``.egg-info``, so
``importlib.metadata`` sees them) from the distribution's site directory
into the virtualenv's site-packages, instead of exposing the whole system
site-packages.  The links point at absolute system paths, resolved on the
node where the package is installed; the package depends on them.

The modules are compiled for the distribution's interpreter, so only a
virtualenv of that interpreter (``/usr/bin/python3*``, the target's inside
a target) may link them.  A module or distribution that the pins installed
already is an error naming both.
"""

from __future__ import annotations

import csv
import dataclasses
import email.parser
import io
import json
import logging
import os
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping, Sequence

from packaging.utils import canonicalize_name

from giftwrap import errors
from giftwrap.manifest import schema
from giftwrap.venv.installers import site_packages
from giftwrap.util.process import Runner

LOG = logging.getLogger(__name__)

KEY = 'system_python_packages'
#: Interpreters a distribution's Python packages are built for.
_SYSTEM_PYTHON = re.compile(r'^/usr/bin/python3(\.[0-9]+)?\Z')
_INSTALL_HINT = {'deb': 'apt-get install {}', 'rpm': 'dnf install {}'}
_METADATA = {'.dist-info': 'METADATA', '.egg-info': 'PKG-INFO'}
# (name, version) of each metadata directory (or egg-info file) given,
# read where the package is installed: in a target's container, the
# target's files, not the host's.
_METADATA_PROBE = (
    'import email.parser, json, os, sys; r = {}\n'
    'for p in sys.argv[1:]:\n'
    '    f = os.path.join(p, "METADATA" if p.endswith(".dist-info") else '
    '"PKG-INFO") if os.path.isdir(p) else p\n'
    '    try:\n'
    '        h = email.parser.HeaderParser().parse(open(f, errors="replace"))\n'
    '    except OSError:\n'
    '        continue\n'
    '    if h.get("Name"):\n'
    '        r[p] = [h["Name"].strip(), (h.get("Version") or "").strip()]\n'
    'print(json.dumps(r))')
# The site directories of the interpreter itself (not the virtualenv's).
_SITE_PROBE = ('import json, site, sysconfig; print(json.dumps(sorted('
               'set(site.getsitepackages() + [sysconfig.get_path("purelib"),'
               ' sysconfig.get_path("platlib")]))))')


@dataclasses.dataclass(frozen=True)
class SystemPackage:
    """A distribution package whose modules the virtualenv links.

    :ivar format: ``deb`` or ``rpm``: the package manager asked.
    :ivar entries: the linked top-level names (modules, packages and
        metadata directories) of its site directory.
    :ivar distributions: ``name==version`` of the Python distributions
        their metadata names.
    """

    name: str
    version: str
    arch: str
    format: str
    site_dir: str = ''
    entries: tuple[str, ...] = ()
    distributions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, str]:
        """What the lock records."""
        return {'name': self.name, 'version': self.version,
                'arch': self.arch, 'format': self.format}


def requested(project, fmt: str | None) -> tuple[str, ...]:
    """The package names for ``fmt`` (``all`` first; ``None``: those for
    every format only)."""
    value = schema.per_format(getattr(project, KEY, ()))
    return tuple(dict.fromkeys((*value.get('all', ()),
                                *value.get(fmt or '', ()))))


def host_format() -> str:
    """The build machine's package format: dpkg's, else rpm's."""
    if shutil.which('dpkg-query') is None and shutil.which('rpm'):
        return 'rpm'
    return 'deb'


def check_interpreter(project, interpreter) -> None:
    """Refuse to link distribution modules into another interpreter's
    virtualenv.

    :raises giftwrap.errors.BuildError: ``interpreter`` is not the
        distribution's own ``/usr/bin/python3*``.
    """
    if not any(requested(project, f) for f in schema.FORMAT_KEYS):
        return
    path = str(interpreter.path)
    if _SYSTEM_PYTHON.match(path) and interpreter.owner is not None:
        return
    raise errors.BuildError(
        f'{KEY} needs the distribution\'s interpreter, not {path}: its '
        f'modules are compiled for that interpreter\'s ABI',
        where=project.where_key(KEY),
        hint='set python: /usr/bin/python3 (or build in targets, with each '
             f'target\'s own), or drop {KEY}')


def link(venv: Path, project, interpreter, runner: Runner, fmt: str,
         installed: Mapping[str, str]) -> tuple[SystemPackage, ...]:
    """Link the modules of the project's ``system_python_packages``.

    :param venv: the staged virtualenv (relocated and stripped already).
    :param fmt: the package manager to ask (the target's, or the host's).
    :param installed: canonical name -> version of what the pins installed.
    :returns: the packages linked, with their versions.
    :raises giftwrap.errors.BuildError: a package is not installed, ships
        no module for this interpreter, or clashes with a pinned one.
    """
    names = requested(project, fmt)
    if not names:
        return ()
    check_interpreter(project, interpreter)
    where = project.where_key(KEY)
    site_dirs = _site_dirs(interpreter, runner)
    site = site_packages(venv)
    found = []
    for name in names:
        package = query(name, fmt, runner, where)
        selected = select(list_files(name, fmt, runner), site_dirs)
        if not selected:
            raise errors.BuildError(
                f'{name} installs no Python module for {interpreter.path}',
                where=where, hint=f'look at what it installs ({_lister(fmt)} '
                f'{name}) and name the package with the modules')
        dists = _distributions([p for p in selected if _is_metadata(p)],
                               interpreter, runner)
        _check_clash(name, selected, dists, site, installed)
        for path in selected:
            os.symlink(path, site / PurePosixPath(path).name)
        found.append(dataclasses.replace(
            package, site_dir=str(PurePosixPath(selected[0]).parent),
            entries=tuple(PurePosixPath(p).name for p in selected),
            distributions=tuple(f'{n}=={v}' for n, v in dists)))
        LOG.info('linked %s %s: %s', name, package.version,
                 ', '.join(PurePosixPath(p).name for p in selected))
    return tuple(found)


def changed(locked: Sequence[Mapping[str, str]],
            linked: Sequence[SystemPackage]) -> list[str]:
    """How the linked packages differ from a lock's: the distribution's
    updates move them, so a rebuild from a lock warns rather than fails."""
    before = {p['name']: p.get('version', '') for p in locked}
    now = {p.name: p.version for p in linked}
    return [f'{KEY}: {n} {before.get(n, "(not locked)")} -> '
            f'{now.get(n, "(not linked)")}'
            for n in sorted(set(before) | set(now))
            if before.get(n) != now.get(n)]


def query(name: str, fmt: str, runner: Runner, where: str | None = None
          ) -> SystemPackage:
    """The installed package ``name``: its version and architecture.

    :raises giftwrap.errors.BuildError: it is not installed.
    """
    if fmt == 'deb':
        argv = ['dpkg-query', '-W', '-f',
                '${db:Status-Status}\t${Version}\t${Architecture}\n', '--',
                name]
    else:
        argv = ['rpm', '-q', '--qf',
                'installed\t%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}\t'
                '%{ARCH}\n', '--', name]
    result = runner.run(argv, check=False, what=f'{argv[0]} {name}')
    fields = result.output.strip().splitlines()[-1].split('\t') \
        if result.returncode == 0 and result.output.strip() else []
    if len(fields) != 3 or fields[0] != 'installed':
        raise errors.BuildError(
            f'{KEY} names {name}, which is not installed where the '
            f'virtualenv is built', where=where, output=result.tail(),
            hint=f'{_INSTALL_HINT[fmt].format(name)} on the build machine '
                 '(or in the target image): giftwrap links the modules it '
                 'installed')
    return SystemPackage(name, fields[1], fields[2], fmt)


def list_files(name: str, fmt: str, runner: Runner) -> list[str]:
    """Every path the installed package ``name`` owns."""
    argv = ['dpkg-query', '-L', '--', name] if fmt == 'deb' else \
        ['rpm', '-ql', '--', name]
    result = runner.run(argv, what=f'{argv[0]} {argv[1]} {name}')
    return [line for line in result.output.splitlines()
            if line.startswith('/')]


def select(paths: Iterable[str], site_dirs: Sequence[str]) -> list[str]:
    """The top-level entries of the site directories among ``paths``.

    Modules, packages and their metadata directories directly in one of
    ``site_dirs`` (the first one that has any): byte-code caches and
    ``.pth`` files (which would run code or extend the path for every
    module) are left out.

    :raises giftwrap.errors.BuildError: a directory is a namespace package
        (other packages may own modules inside it).
    """
    paths = set(paths)
    for site in site_dirs:
        top = sorted(p for p in paths if str(PurePosixPath(p).parent) == site
                     and _linkable(PurePosixPath(p).name))
        if top:
            for path in top:
                _check_not_namespace(path, paths)
            return top
    return []


def _linkable(name: str) -> bool:
    return name != '__pycache__' and not name.endswith('.pth')


def _is_metadata(path: str) -> bool:
    return path.endswith(tuple(_METADATA))


def _check_not_namespace(path: str, paths: set[str]) -> None:
    """A directory linked whole must be the package's own, not a
    namespace shared by several packages."""
    children = [p for p in paths if p.startswith(path + '/')]
    if not children or _is_metadata(path) or \
            {f'{path}/__init__.py', f'{path}/__init__.pyi'} & paths:
        return  # a module, metadata, a package (or its type stubs)
    raise errors.BuildError(
        f'{path} is a namespace package: other packages may own modules '
        'inside it, and linking it would expose them',
        hint=f'leave this package out of {KEY} and install its '
             'distribution from PyPI with pip_dependencies')


def _site_dirs(interpreter, runner: Runner) -> list[str]:
    """The interpreter's own site directories, most specific first."""
    result = runner.run([str(interpreter.path), '-I', '-c', _SITE_PROBE],
                        what=f'{interpreter.path} site directories')
    found = json.loads(result.output.strip().splitlines()[-1])
    # /usr/lib/python3/dist-packages before /usr/local: packages install
    # below /usr, never in /usr/local.
    return sorted(found, key=lambda d: d.startswith('/usr/local/'))


def _distributions(paths: Sequence[str], interpreter, runner: Runner
                   ) -> list[tuple[str, str]]:
    """(name, version) of the distribution each metadata path describes,
    read by the interpreter where it runs."""
    if not paths:
        return []
    result = runner.run([str(interpreter.path), '-I', '-c', _METADATA_PROBE,
                         *paths], what=f'{interpreter.path} metadata')
    found = json.loads(result.output.strip().splitlines()[-1])
    return [tuple(found[p]) for p in paths if p in found]


def _distribution(path: Path) -> tuple[str, str] | None:
    """(name, version) from a metadata directory in the virtualenv."""
    meta = path / _METADATA[path.suffix] if path.is_dir() else path
    try:
        text = meta.read_text(encoding='utf-8', errors='replace')
    except OSError:
        LOG.debug('no metadata in %s', path)
        return None
    headers = email.parser.HeaderParser().parsestr(text)
    name = str(headers.get('Name') or '').strip()
    return (name, str(headers.get('Version') or '').strip()) if name else None


def _check_clash(package: str, selected: Sequence[str],
                 dists: Sequence[tuple[str, str]], site: Path,
                 installed: Mapping[str, str]) -> None:
    """Refuse a module or distribution the pins installed already."""
    for name, version in dists:
        key = canonicalize_name(name)
        if key in installed:
            _clash(package, f'{name} {version}',
                   f'{key}=={installed[key]}')
    owners = None
    for path in selected:
        entry = PurePosixPath(path).name
        if _is_metadata(entry) or not os.path.lexists(site / entry):
            continue
        owners = owners if owners is not None else _owners(site)
        _clash(package, f'the module {entry}',
               owners.get(_top(entry), 'a file of the virtualenv'))


def _clash(package: str, what: str, pinned: str):
    raise errors.BuildError(
        f'{package} brings {what}, which the virtualenv has from the pins '
        f'already ({pinned})',
        hint=f'drop {package} from {KEY}, or remove the pinned one '
             f'(pip_exclude it, or drop what requires it)')


def _top(entry: str) -> str:
    """The import name of a site-packages entry (``x.cpython-311.so``)."""
    return entry.split('.')[0]


def _owners(site: Path) -> dict[str, str]:
    """Top-level import name -> ``name==version`` of the distribution whose
    ``RECORD`` lists it."""
    owners = {}
    for record in sorted(site.glob('*.dist-info/RECORD')):
        if record.parent.is_symlink():
            continue
        found = _distribution(record.parent)
        label = f'{canonicalize_name(found[0])}=={found[1]}' if found \
            else record.parent.name
        for row in csv.reader(io.StringIO(record.read_text(
                encoding='utf-8', errors='replace'))):
            if row and not row[0].startswith('..'):
                owners.setdefault(_top(row[0].split('/')[0]), label)
    return owners


def _lister(fmt: str) -> str:
    return 'dpkg -L' if fmt == 'deb' else 'rpm -ql'


__all__ = ['KEY', 'SystemPackage', 'changed', 'check_interpreter', 'host_format',
           'link', 'list_files', 'query', 'requested', 'select']

"""What a source declares it needs to build, read without running it.

A source tree or an sdist names its build requirements in
``pyproject.toml``'s ``[build-system] requires``; with setuptools' backends
(the default one too) the ``setup_requires`` of setup.py's ``setup()`` call
and of setup.cfg count as well, as setuptools hands them to the installer.
:mod:`giftwrap.venv.buildreqs` pins what this module reads.
"""

from __future__ import annotations

import ast
import configparser
import logging
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement

from giftwrap import errors

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover
    tomllib = None

LOG = logging.getLogger(__name__)

#: What pip (25.3 and later) and uv build with when a source declares
#: nothing: no pyproject.toml, or one without a ``[build-system]`` table.
LEGACY_REQUIRES = ('setuptools>=40.8.0',)
_MAX_PYPROJECT = 1 << 20


def declared(text: str | None, where: str, *, setup_py: str | None = None,
             setup_cfg: str | None = None) -> tuple[str, ...]:
    """The build requirements a source declares, normalized.

    :param text: its ``pyproject.toml``, or ``None`` when there is none.
    :param where: what the file belongs to, for errors.
    :param setup_py: its ``setup.py``, if any: with setuptools' backends
        (the default one too) the ``setup_requires`` of its ``setup()``
        call are build requirements as well (OpenStack's ``pbr``).
    :param setup_cfg: its ``setup.cfg``: ``[options] setup_requires``.
    :returns: ``[build-system] requires`` (or :data:`LEGACY_REQUIRES`
        without a file, a table or its ``requires``), then setup_requires.
    :raises giftwrap.errors.BuildError: not TOML, or not requirements.
    """
    requires, backend = _build_system(text, where)
    if backend in _SETUPTOOLS_BACKENDS:
        requires += setup_requires(setup_py, setup_cfg, where)
    return tuple(dict.fromkeys(requires))


#: The build backends that install setup_requires before building (the
#: legacy default is None: no pyproject.toml or no build-backend).
_SETUPTOOLS_BACKENDS = (None, 'setuptools.build_meta',
                        'setuptools.build_meta:__legacy__')


def _build_system(text: str | None, where: str
                  ) -> tuple[tuple[str, ...], str | None]:
    """``[build-system]`` requires and build-backend."""
    if text is None:
        return LEGACY_REQUIRES, None
    try:
        table = tomllib.loads(text).get('build-system')
    except tomllib.TOMLDecodeError as exc:
        raise errors.BuildError(f'pyproject.toml is not valid TOML: {exc}',
                                where=where) from None
    if not isinstance(table, dict):
        return LEGACY_REQUIRES, None
    backend = table.get('build-backend')
    backend = backend if isinstance(backend, str) else None
    if 'requires' not in table:
        return LEGACY_REQUIRES, backend
    requires = table['requires']
    if not isinstance(requires, list) or not all(
            isinstance(r, str) for r in requires):
        raise errors.BuildError(
            '[build-system] requires is not a list of strings', where=where,
            hint='fix the pyproject.toml, or use another version')
    return tuple(normalized(r, where) for r in requires), backend


def setup_requires(setup_py: str | None, setup_cfg: str | None,
                   where: str) -> tuple[str, ...]:
    """What a setuptools project's ``setup_requires`` names.

    setuptools' backends report these to the installer, which installs
    them in the build environment: pbr, for every OpenStack project
    without a pyproject.toml.  Read without running anything: the
    ``setup_requires`` keyword of a ``setup()`` call in setup.py when it is
    a literal list, and ``[options] setup_requires`` in setup.cfg.  One
    computed at run time is logged and left unconstrained.
    """
    found: list[str] = []
    if setup_cfg is not None:
        parser = configparser.RawConfigParser()
        try:
            parser.read_string(setup_cfg)
            value = parser.get('options', 'setup_requires', fallback='')
        except configparser.Error as exc:
            LOG.warning('%s: cannot read setup.cfg: %s', where, exc)
            value = ''
        found += [r.strip() for line in value.splitlines()
                  for r in line.split(';') if r.strip()]
    if setup_py is not None:
        found += _setup_py_requires(setup_py, where)
    return tuple(normalized(r, where) for r in found)


def _setup_py_requires(text: str, where: str) -> list[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        LOG.warning('%s: cannot parse setup.py (%s): its setup_requires '
                    'are not constrained', where, exc)
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _called(node.func) != 'setup':
            continue
        for keyword in node.keywords:
            if keyword.arg != 'setup_requires':
                continue
            value = keyword.value
            items = value.elts if isinstance(value, (ast.List, ast.Tuple)) \
                else None
            if items is None or not all(isinstance(i, ast.Constant) and
                                        isinstance(i.value, str)
                                        for i in items):
                LOG.warning('%s: setup_requires in setup.py is computed, '
                            'not a list of strings: it is not constrained',
                            where)
                continue
            found += [i.value for i in items]
    return found


def _called(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def normalized(text: str, where: str) -> str:
    try:
        return str(Requirement(text))
    except InvalidRequirement as exc:
        raise errors.BuildError(
            f'build requirement {text!r} is not a requirement: {exc}',
            where=where, hint='fix the pyproject.toml') from None


def project_requires(source: Path) -> tuple[str, ...]:
    """The build requirements of the source tree at ``source``."""
    def text(name: str) -> str | None:
        path = Path(source) / name
        return path.read_text(encoding='utf-8', errors='replace') \
            if path.is_file() else None
    return declared(text('pyproject.toml'), str(Path(source) / 'pyproject.toml'),
                    setup_py=text('setup.py'), setup_cfg=text('setup.cfg'))


def sdist_requires(archive: Path) -> tuple[str, ...]:
    """The build requirements of an sdist (``.tar.gz`` and others, ``.zip``).

    Only the top directory's ``pyproject.toml`` is read; nothing is
    extracted.

    :raises giftwrap.errors.BuildError: not an archive, or a bad file.
    """
    try:
        files = (_zip_files(archive) if zipfile.is_zipfile(archive)
                 else _tar_files(archive))
    except (OSError, tarfile.TarError, zipfile.BadZipFile,
            UnicodeDecodeError) as exc:
        raise errors.BuildError(f'cannot read the sdist: {exc}',
                                where=str(archive)) from None
    return declared(files.get('pyproject.toml'),
                    f'{Path(archive).name}: pyproject.toml',
                    setup_py=files.get('setup.py'),
                    setup_cfg=files.get('setup.cfg'))


#: The files of an sdist's top directory that declare build requirements.
_DECLARING = ('pyproject.toml', 'setup.py', 'setup.cfg')


def _top_file(name: str) -> str | None:
    parts = PurePosixPath(name).parts
    return parts[1] if len(parts) == 2 and parts[1] in _DECLARING else None


def _tar_files(archive: Path) -> dict[str, str]:
    found = {}
    with tarfile.open(archive, 'r:*') as tar:
        for member in tar:
            name = _top_file(member.name)
            if name and name not in found and member.isfile() \
                    and member.size <= _MAX_PYPROJECT:
                found[name] = tar.extractfile(member).read().decode('utf-8')
    return found


def _zip_files(archive: Path) -> dict[str, str]:
    found = {}
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            name = _top_file(info.filename)
            if name and name not in found \
                    and info.file_size <= _MAX_PYPROJECT:
                found[name] = zipped.read(info).decode('utf-8')
    return found

"""Write small sample Python projects to disk for tests.

A sample project is a real, buildable setuptools project: pip can build and
install it, and it has a console script that imports its first dependency::

    from tests import projectutil

    src = projectutil.write_sample_project(
        tmp_path / 'src', requirements=['six==1.16.0'])

With ``pbr=True`` it is a pbr project (``setup.py`` + ``setup.cfg``); pbr
takes its version from the ``PKG-INFO`` written beside them, so no git
repository is needed (pass ``pkg_info=False`` to let pbr read git tags).
With ``c_extension=True`` it also builds a tiny C module
(``<module>._speedups``), which needs a C compiler and the interpreter's
headers (see :func:`can_build_c_extension`); with ``libyaml=True`` that
module also links libyaml (``-lyaml``, from libyaml-dev) and has
``yaml_version()``.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

#: What the console script prints, before the dependency's name.
GREETING = 'hello from giftwrap'

#: The etc/ files a sample project has unless a test gives others.
DEFAULT_ETC = {'hello/hello.conf': '[DEFAULT]\ngreeting = hello\n'}

_C_SOURCE = '''\
#include <Python.h>

static PyObject *answer(PyObject *self, PyObject *args)
{
    return PyLong_FromLong(42);
}

static PyMethodDef methods[] = {
    {"answer", answer, METH_NOARGS, "The answer."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
'''

# The C module linking libyaml: a call into the library, so the linker keeps
# it as NEEDED even with --as-needed.
_C_YAML_SOURCE = _C_SOURCE.replace('#include <Python.h>\n', '''\
#include <Python.h>
#include <yaml.h>

static PyObject *yaml_version(PyObject *self, PyObject *args)
{
    return PyUnicode_FromString(yaml_get_version_string());
}
''').replace('''    {"answer", answer, METH_NOARGS, "The answer."},
''', '''    {"answer", answer, METH_NOARGS, "The answer."},
    {"yaml_version", yaml_version, METH_NOARGS, "libyaml's version."},
''')


def module_name(name: str) -> str:
    """The import name of the project ``name``: ``hello-app`` -> ``hello_app``."""
    return re.sub(r'[^A-Za-z0-9]', '_', name).lower()


def can_build_c_extension(include_dir: str = '/usr/include/python3.11') -> bool:
    """Whether a C compiler and ``Python.h`` are installed."""
    return (shutil.which('cc') is not None
            and (Path(include_dir) / 'Python.h').is_file())


def can_link_libyaml() -> bool:
    """Whether libyaml's header is installed (apt-get install libyaml-dev)."""
    return Path('/usr/include/yaml.h').is_file()


def write_sample_project(path: Path, name: str = 'hello-app',
                         version: str = '1.2.3',
                         requirements: Sequence[str] = ('six==1.16.0',),
                         console_script: bool = True,
                         etc_files: Mapping[str, str] | None = None,
                         pbr: bool = False, c_extension: bool = False,
                         extras: Mapping[str, Sequence[str]] | None = None,
                         pkg_info: bool = True, libyaml: bool = False) -> Path:
    """Write a buildable project at ``path`` and return ``path``.

    :param name: the distribution name; the console script has this name.
    :param requirements: its install_requires; the script imports the
        first one (by its module name, so use names like ``six``, ``idna``).
    :param etc_files: files under ``etc/`` (relative path -> text);
        ``None`` means :data:`DEFAULT_ETC`, ``{}`` means no ``etc/``.
    :param extras: extras_require (extra -> requirements).
    :param pkg_info: with ``pbr``, write ``PKG-INFO`` so pbr needs no git.
    :param libyaml: the C extension (implied) links libyaml.
    """
    path.mkdir(parents=True, exist_ok=True)
    module = module_name(name)
    package = path / module
    package.mkdir(exist_ok=True)
    (package / '__init__.py').write_text(f'__version__ = {version!r}\n')
    (package / 'cli.py').write_text(_cli_source(requirements))
    c_extension = c_extension or libyaml
    if c_extension:
        (package / '_speedups.c').write_text(
            _C_YAML_SOURCE if libyaml else _C_SOURCE)
    etc = DEFAULT_ETC if etc_files is None else etc_files
    for rel, text in etc.items():
        target = path / 'etc' / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    meta = _Meta(name, version, module, tuple(requirements), console_script,
                 c_extension, dict(extras or {}))
    meta.libraries = ('yaml',) if libyaml else ()
    if pbr:
        _write_pbr(path, meta, pkg_info)
    else:
        _write_setuptools(path, meta)
    return path


class _Meta:
    def __init__(self, name, version, module, requirements, console_script,
                 c_extension, extras):
        self.name, self.version, self.module = name, version, module
        self.requirements = requirements
        self.console_script = console_script
        self.c_extension = c_extension
        self.extras = extras
        self.libraries: tuple[str, ...] = ()


def _cli_source(requirements: Sequence[str]) -> str:
    dep = ''
    if requirements:
        dep = module_name(re.split(r'[\s<>=!~;\[@]', requirements[0], 1)[0])
    imports = f'import {dep}\n' if dep else ''
    shown = f'{dep}.__name__' if dep else "'nothing'"
    return textwrap.dedent(f'''\
        import sys
        {imports}

        def main():
            print({GREETING!r}, {shown}, sys.prefix)
            return 0
        ''')


def _write_setuptools(path: Path, meta: _Meta) -> None:
    (path / 'pyproject.toml').write_text(textwrap.dedent('''\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        '''))
    (path / 'setup.cfg').write_text(_setup_cfg(meta, pbr=False))
    if meta.c_extension:
        (path / 'setup.py').write_text(_setup_py(meta, pbr=False))


def _write_pbr(path: Path, meta: _Meta, pkg_info: bool) -> None:
    (path / 'pyproject.toml').write_text(textwrap.dedent('''\
        [build-system]
        requires = ["pbr>=6.0.0", "setuptools>=61"]
        build-backend = "pbr.build"
        '''))
    (path / 'setup.cfg').write_text(_setup_cfg(meta, pbr=True))
    (path / 'setup.py').write_text(_setup_py(meta, pbr=True))
    (path / 'requirements.txt').write_text(
        ''.join(f'{r}\n' for r in meta.requirements))
    if pkg_info:
        (path / 'PKG-INFO').write_text(
            f'Metadata-Version: 2.1\nName: {meta.name}\n'
            f'Version: {meta.version}\n')


def _setup_cfg(meta: _Meta, *, pbr: bool) -> str:
    lines = ['[metadata]', f'name = {meta.name}']
    if not pbr:
        lines.append(f'version = {meta.version}')
    lines += [f'summary = {meta.name} sample' if pbr else
              f'description = {meta.name} sample',
              'author = giftwrap tests', 'author_email = tests@example.com',
              '', '[options]' if not pbr else '[files]']
    if pbr:
        lines.append(f'packages =\n    {meta.module}')
    else:
        lines.append(f'packages = {meta.module}')
        if meta.requirements:
            lines.append('install_requires =')
            lines += [f'    {r}' for r in meta.requirements]
    if meta.extras:
        lines += ['', '[extras]' if pbr else '[options.extras_require]']
        for extra, reqs in meta.extras.items():
            lines.append(f'{extra} =')
            lines += [f'    {r}' for r in reqs]
    if meta.console_script:
        lines += ['', '[entry_points]' if pbr else '[options.entry_points]',
                  'console_scripts =',
                  f'    {meta.name} = {meta.module}.cli:main']
    return '\n'.join(lines) + '\n'


def _setup_py(meta: _Meta, *, pbr: bool) -> str:
    args = ["setup_requires=['pbr']", 'pbr=True'] if pbr else []
    if meta.c_extension:
        libraries = (f', libraries={list(meta.libraries)!r}'
                     if meta.libraries else '')
        args.append(f"ext_modules=[setuptools.Extension("
                    f"'{meta.module}._speedups', "
                    f"['{meta.module}/_speedups.c']{libraries})]")
    return ('import setuptools\n\nsetuptools.setup(\n    '
            + ',\n    '.join(args) + ')\n')


def sample_repo(path: Path, *, branch: str = 'master', tags=(),
                extra_files: Mapping[str, str] | None = None, **kwargs) -> str:
    """A git repository (made with dulwich) holding a sample project.

    Takes :func:`write_sample_project`'s keyword arguments; ``extra_files``
    adds files (path -> text), e.g. a ``requirements.txt``.

    :returns: the commit id.
    """
    from tests import gitutil

    staging = Path(str(path) + '.files')
    write_sample_project(staging, **kwargs)
    for name, text in (extra_files or {}).items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_text(text)
    files = {}
    for item in sorted(staging.rglob('*')):
        if item.is_file():
            mode = gitutil.EXECUTABLE if item.stat().st_mode & 0o111 else \
                gitutil.REGULAR
            files[item.relative_to(staging).as_posix()] = gitutil.File(
                item.read_bytes(), mode)
    shutil.rmtree(staging)
    return gitutil.make_repo(path, files, branch=branch, tags=tags)


def pinned_repo(path: Path) -> str:
    """The usual test repository: a sample project needing ``six``, with a
    ``requirements.txt`` pinning it (for the requirements-file resolver).

    :returns: the commit id.
    """
    return sample_repo(path, requirements=['six'],
                       extra_files={'requirements.txt': 'six==1.16.0\n'})


def pinned_manifest(tmp_path: Path, settings: str = '',
                    builders: str = '[nfpm-deb]') -> Path:
    """A manifest building :func:`pinned_repo` (made in ``tmp_path``) with
    the requirements-file resolver; ``settings`` adds settings lines
    (``key: value``, one per line)."""
    repo = tmp_path / 'hello-app'
    pinned_repo(repo)
    extra = ''.join(f'\n  {line}' for line in settings.splitlines() if line)
    manifest = tmp_path / 'manifest.yml'
    manifest.write_text(
        f"settings:\n  version: '1.0-1'\n  builders: {builders}\n"
        f"  resolver: requirements-file{extra}\n"
        f"projects:\n  - name: hello-app\n    giturl: {repo}\n")
    return manifest

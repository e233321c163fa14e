"""What giftwrap writes into a package: maintainer scripts, units, sudoers,
and the update-alternatives links of ``link_executables``.

Everything is rendered once, with Jinja2 in a sandbox
(:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`, ``StrictUndefined``).
A manifest value under ``scripts``, ``systemd_units``, ``sudoers`` or
``config_templates`` is either

* inline text, already rendered with the rest of the manifest (so it may use
  ``{{ project.install_path }}`` like any manifest value), or
* a single line ending in ``.j2``: a template file, relative to the manifest,
  rendered here with :func:`context` (and, for a maintainer script,
  ``format`` -- ``deb`` or ``rpm`` -- and ``script``).

A maintainer script from the manifest is a shell fragment: giftwrap's own
script for the format (``giftwrap/templates/<format>-<script>.sh.j2``) runs
it with ``set -e`` and the package manager's arguments in ``$@``, after its
own steps in preinst/postinst and before them in prerm/postrm.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import os
import re
import shlex
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

import jinja2

from giftwrap import errors
from giftwrap.manifest import bounds, versions
from giftwrap.package import docfiles
from giftwrap.package.description import (FORMATS, SCRIPTS, UNIT_DIR, Alternative,
                                          GeneratedFile, PackageDescription, dist_info)

LOG = logging.getLogger(__name__)

_UNIT = re.compile(r'^[A-Za-z0-9][A-Za-z0-9@._:-]*\.'
                   r'(service|socket|timer|path|target|mount)\Z')
# sudo skips files in /etc/sudoers.d whose name has a "." or ends in "~".
_SUDOERS = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]*\Z')
_PATH = re.compile(r'^(/[A-Za-z0-9._+@:,=~-]+)+\Z')
_SUDOERS_DIR = PurePosixPath('/etc/sudoers.d')
_LINTIAN_DIR = PurePosixPath('/usr/share/lintian/overrides')
_SHELL_NOOP = re.compile(r'^(#.*|set -e|)\Z')


def _environment(**kw) -> bounds.BoundedEnvironment:
    env = bounds.BoundedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False,
        keep_trailing_newline=True, **kw)
    env.filters['shquote'] = shlex.quote
    env.filters['shjoin'] = lambda items: ' '.join(map(shlex.quote, items))
    return env


_BUILTIN = _environment(loader=jinja2.PackageLoader('giftwrap', 'templates'),
                        trim_blocks=True, lstrip_blocks=True)
_USER = _environment()


def complete(package: PackageDescription, project, tree, *,
             docs: DocFacts | None = None) -> PackageDescription:
    """``package`` with its generated files, links and maintainer scripts.

    :param docs: what the Debian copyright file and changelogs record
        (:mod:`giftwrap.package.docfiles`); without it a deb has none.

    :raises giftwrap.errors.ManifestError: a bad name or path, a missing
        or broken template, a file the virtualenv also has.
    """
    package = dataclasses.replace(package,
                                  alternatives=alternatives(project, tree))
    ctx = context(project, package)
    files = (_units(project, ctx) + _sudoers(project, ctx)
             + _config_templates(project, ctx))
    if docs is not None:
        files += docfiles.files(package, project, tree, commit=docs.commit,
                                epoch=docs.epoch, patches=docs.patches)
    files += (_lintian_overrides(package, files),)
    _check_collisions(files, tree, project)
    scripts = {fmt: maintainer_scripts(fmt, project, ctx) for fmt in FORMATS}
    return dataclasses.replace(package, files=files, scripts=scripts)


@dataclasses.dataclass(frozen=True)
class DocFacts:
    """The build facts a deb's changelog records besides the tree's."""

    commit: str
    epoch: int
    patches: tuple = ()


_SCRIPT_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]*\Z')


def alternatives(project, tree) -> tuple[Alternative, ...]:
    """The project's console scripts, linked in ``link_executables``.

    :raises giftwrap.errors.ManifestError: it is no plain absolute path.
    """
    if not project.link_executables:
        return ()
    directory = _link_directory(project)
    names = [n for n in console_scripts(tree.venv, project.name)
             if _SCRIPT_NAME.match(n) and (tree.venv / 'bin' / n).is_file()]
    if not names:
        LOG.warning('link_executables: %s installs no console scripts',
                    project.name)
    priority = alternative_priority(project.package_version)
    return tuple(Alternative(n, directory / n,
                             tree.install_path / 'bin' / n, priority)
                 for n in names)


def alternative_priority(version: versions.PackageVersion) -> int:
    """update-alternatives' priority of a version: newer is higher.

    The first three numbers of the upstream version (``2025.1.3`` ->
    2025001003; the first up to 2146, the others up to 999), so it stays
    below 2**31, the largest priority update-alternatives takes.
    """
    numbers = [int(n) for n in re.findall(r'\d+', version.upstream)[:3]]
    major, minor, patch = numbers + [0] * (3 - len(numbers))
    return min(major, 2146) * 10 ** 6 + min(minor, 999) * 1000 + \
        min(patch, 999)


def _link_directory(project) -> PurePosixPath:
    directory = PurePosixPath(project.link_executables)
    if project.link_executables and (
            not _PATH.match(project.link_executables) or
            '..' in directory.parts):
        raise errors.ManifestError(
            f'link_executables {project.link_executables!r} is not a plain '
            f'absolute path', where=project.where_key('link_executables'),
            hint='e.g. /usr/local/bin')
    return directory


def console_scripts(venv: Path, name: str) -> tuple[str, ...]:
    """The ``console_scripts`` entry points of distribution ``name``."""
    import configparser
    found = dist_info(venv, name)
    path = found / 'entry_points.txt' if found else None
    if path is None or not path.is_file():
        return ()
    parser = configparser.ConfigParser(delimiters=('=',),
                                       interpolation=None)
    parser.optionxform = str  # script names keep their case
    try:
        parser.read_string(path.read_text(encoding='utf-8'))
    except configparser.Error as exc:
        LOG.warning('cannot read %s: %s', path, exc)
        return ()
    if not parser.has_section('console_scripts'):
        return ()
    return tuple(sorted(parser['console_scripts']))


def context(project, package: PackageDescription) -> dict[str, Any]:
    """What templates see: ``project``, ``package``, ``service``..."""
    service = package.service
    return {
        'project': {f.name: _plain(getattr(project, f.name))
                    for f in dataclasses.fields(project)
                    if not f.name.startswith('_')},
        'package': {'name': package.name, 'version': str(package.version),
                    'install_path': str(package.install_path)},
        'service': {
            'user': service.user, 'group': service.group,
            'home': service.home, 'enable': service.enable,
            'directories': [str(d) for d in service.directories],
            'units': list(service.units),
            'owner': service.user or 'root',
            'owner_group': service.group or 'root',
            'mode': '0750' if service.user else '0755'},
        'install_path': str(package.install_path),
        # update-alternatives links of the console scripts (link_executables)
        'alternatives': [{'name': a.name, 'link': str(a.link),
                          'path': str(a.path), 'priority': a.priority}
                         for a in package.alternatives],
        # strip: pycache -- the scripts byte-compile (and clean) the tree
        'bytecode': {'compile': package.compile_at_install,
                     'python': str(package.install_path / 'bin' / 'python'),
                     'lib': str(package.install_path / 'lib')},
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def maintainer_scripts(fmt: str, project, ctx: Mapping[str, Any]
                       ) -> dict[str, str]:
    """The maintainer scripts of format ``fmt`` that do something.

    :returns: script name (:data:`~giftwrap.package.description.SCRIPTS`) -> text.
    :raises giftwrap.errors.ManifestError: an unknown script name or a
        broken template.
    """
    for name in project.scripts:
        if name not in SCRIPTS:
            raise errors.ManifestError(
                f'unknown maintainer script {name!r}',
                where=project.where_key('scripts'),
                hint=f'scripts are {", ".join(SCRIPTS)} (rpm runs them as '
                     '%pre, %post, %preun and %postun)')
    scripts = {}
    for name in SCRIPTS:
        local = dict(ctx, format=fmt, script=name)
        fragment = ''
        if name in project.scripts:
            fragment = render_value(project.scripts[name], project,
                                    'scripts', local)
        text = _BUILTIN.get_template(f'{fmt}-{name}.sh.j2').render(
            local, fragment=fragment.strip('\n'))
        text = re.sub(r'\n{3,}', '\n\n', text).strip('\n') + '\n'
        if any(not _SHELL_NOOP.match(line.strip())
               for line in text.splitlines()):
            scripts[name] = text
    return scripts


def is_template_file(value: str) -> bool:
    """A single line ending in ``.j2`` names a template file."""
    value = value.strip()
    return '\n' not in value and value.endswith('.j2')


def render_value(value: str, project, key: str,
                 ctx: Mapping[str, Any]) -> str:
    """Inline text as it is, or the template file it names, rendered.

    :raises giftwrap.errors.ManifestError: the file is missing or the
        template is broken (naming the manifest line of ``key``).
    """
    if not is_template_file(value):
        return value
    where = project.where_key(key)
    # manifest_dir: where a worker of another executor has the files
    shipped = Path(getattr(project, 'manifest_dir', '.'))
    base = shipped if shipped != Path('.') else _manifest_dir(where)
    path = base / value.strip()
    try:
        source = path.read_text(encoding='utf-8')
    except OSError as exc:
        raise errors.ManifestError(
            f'cannot read the template {path}: {exc.strerror}', where=where,
            hint='template paths are relative to the manifest') from None
    try:
        return bounds.render(_USER.from_string(source), ctx)
    except jinja2.TemplateError as exc:
        line = getattr(exc, 'lineno', None)
        raise errors.ManifestError(
            f'template {path}{f":{line}" if line else ""} failed: {exc}',
            where=where, hint='templates can use project, package, service '
            'and install_path (scripts also format and script)') from None


def _manifest_dir(where: str) -> Path:
    # Project.where_key gives "<manifest path>:<line>".
    path, _, line = where.rpartition(':')
    return Path(path).parent if path and line.isdigit() else Path.cwd()


# key -> (name pattern, directory, what a bad name is, hint)
_NAMED = {
    'systemd_units': (_UNIT, UNIT_DIR, 'is not a systemd unit file name',
                      'e.g. nova-api.service (.socket, .timer, .path, '
                      '.target and .mount too)'),
    'sudoers': (_SUDOERS, _SUDOERS_DIR,
                'is not a usable /etc/sudoers.d file name',
                'a letter or digit, then letters, digits, _ and -: sudo skips names with a "." '
                'or ending in "~"'),
}


def check_project(project) -> None:
    """The names and paths of the files and links the package gets, from
    the manifest alone: unit and sudoers file names, config_templates
    paths, link_executables.

    :raises giftwrap.errors.ManifestError: naming the key's line.
    """
    for key in _NAMED:
        for name in getattr(project, key):
            _check_name(project, key, name)
    for dst in project.config_templates:
        _config_path(project, dst)
    _link_directory(project)


def _check_name(project, key: str, name: str) -> None:
    pattern, _, wrong, hint = _NAMED[key]
    if not pattern.match(name):
        raise errors.ManifestError(f'{name!r} {wrong}',
                                   where=project.where_key(key), hint=hint)


def _units(project, ctx) -> tuple[GeneratedFile, ...]:
    return _named_files(project, ctx, 'systemd_units')


def _sudoers(project, ctx) -> tuple[GeneratedFile, ...]:
    return _named_files(project, ctx, 'sudoers', mode=0o440, config=True)


def _named_files(project, ctx, key: str, **attributes
                 ) -> tuple[GeneratedFile, ...]:
    """The files of a ``name: template`` manifest mapping (``key``), each
    name checked and written under the key's directory."""
    files = []
    for name, value in getattr(project, key).items():
        _check_name(project, key, name)
        text = render_value(value, project, key, ctx)
        files.append(GeneratedFile(_NAMED[key][1] / name, _ends_line(text),
                                   **attributes))
    return tuple(files)


def _config_path(project, dst: str) -> PurePosixPath:
    path = PurePosixPath(dst)
    if not _PATH.match(dst) or '..' in path.parts or str(path) != dst:
        raise errors.ManifestError(
            f'config_templates path {dst!r} is not a plain absolute '
            f'path', where=project.where_key('config_templates'),
            hint='e.g. /etc/nova/rootwrap.conf')
    return path


def _config_templates(project, ctx) -> tuple[GeneratedFile, ...]:
    files = []
    for dst, value in project.config_templates.items():
        path = _config_path(project, dst)
        text = render_value(value, project, 'config_templates', ctx)
        files.append(GeneratedFile(path, _ends_line(text), config=True))
    return tuple(files)


def _ends_line(text: str) -> str:
    # sudo ignores a last line without a newline; so do many parsers.
    return text if text.endswith('\n') else text + '\n'


#: lintian findings about the files of the distributions a virtualenv
#: bundles (wheels as the package index serves them).
_VENV_TAGS = ('embedded-library', 'unstripped-binary-or-object',
              'package-installs-ieee-data', 'shared-library-is-executable',
              'privacy-breach-uses-embedded-file', 'privacy-breach-generic',
              'shell-script-fails-syntax-check', 'script-not-executable',
              'executable-not-elf-or-script', 'unusual-interpreter')


def _lintian_overrides(package: PackageDescription,
                       files: tuple[GeneratedFile, ...]) -> GeneratedFile:
    """Debian only: the findings lintian reports that are by design."""
    config = list(package.config_files) + [f.dst for f in files if f.config]
    text = _BUILTIN.get_template('lintian-overrides.j2').render(
        name=package.deb_name, install_path=str(package.install_path),
        opt=PurePosixPath('/opt') in package.install_path.parents,
        pycache=not package.compile_at_install, venv_tags=_VENV_TAGS,
        install_conffiles=any(PurePosixPath('/etc') not in p.parents
                              for p in config))
    return GeneratedFile(_LINTIAN_DIR / package.deb_name,
                         re.sub(r'\n{3,}', '\n\n', text),
                         formats=frozenset({'deb'}))


def _check_collisions(files, tree, project) -> None:
    seen = set()
    for generated in files:
        staged = tree.root / generated.dst.relative_to('/')
        if generated.dst in seen or os.path.lexists(staged):
            raise errors.ManifestError(
                f'{generated.dst} is written twice (a generated file and '
                f'the virtualenv or another generated file)',
                where=project.where, hint='give each file one source')
        seen.add(generated.dst)


def write_files(target, directory: Path, *, skip=frozenset()
                ) -> dict[PurePosixPath, Path]:
    """Write the generated files of ``target`` below ``directory``.

    ``directory`` stands for ``/``: a file for ``/etc/x`` is
    ``directory/etc/x``, with the mode it is installed with.

    :param skip: installed paths the packager writes itself.
    :returns: installed path -> written file.
    """
    _fresh(directory)
    written = {}
    for generated in target.files:
        if generated.dst in skip:
            continue
        path = directory / generated.dst.relative_to('/')
        path.parent.mkdir(parents=True, exist_ok=True)
        data = generated.text.encode('utf-8')
        # gzip -n: no name and no time, so rebuilds are byte-identical
        path.write_bytes(gzip.compress(data, 9, mtime=0)
                         if generated.compress else data)
        path.chmod(generated.mode)
        written[generated.dst] = path
    return written


def write_scripts(target, directory: Path) -> dict[str, Path]:
    """Write the maintainer scripts of ``target`` into ``directory``.

    :returns: script name -> written file.
    """
    _fresh(directory)
    written = {}
    for name, text in target.scripts.items():
        path = directory / name
        path.write_text(text, encoding='utf-8')
        path.chmod(0o755)
        written[name] = path
    return written


def _fresh(directory: Path) -> None:
    # A builder's work directory may hold a previous attempt's files.
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)

"""The manifest: YAML in, frozen, validated objects out.

All validation happens here, before any work: unknown keys, wrong types,
bad names, undefined template names and template cycles are reported with
the manifest's file and line.  :func:`load` checks everything it can without
the source; :meth:`Manifest.render` gives a project's final values once its
commit is known (templates may use ``project.commit``).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
import shutil
import types
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from giftwrap import errors
from giftwrap.manifest import templating, versions, yamlfile
from giftwrap.util.process import find_tool
from giftwrap.manifest.schema import FIELDS, REJECTED, Field

LOG = logging.getLogger(__name__)

#: where an operator reads about manifests: the published page's title and
#: its source in the repository (the same text)
MANIFEST_DOCS = ('see "The manifest" in giftwrap\'s documentation '
                 '(doc/source/manifest.rst)')
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]*\Z')
_BARE = {'name': ('project', 'name'), 'version': ('project', 'version'),
         'gitref': ('project', 'gitref')}


@dataclasses.dataclass(frozen=True)
class Project:
    """One project of the manifest, with every template rendered.

    Settings are already merged in; builders and resolvers read only this.
    """

    name: str
    package_name: str
    version: str
    package_version: versions.PackageVersion
    install_path: PurePosixPath
    #: where the source is fetched from: a local path resolved against the
    #: manifest's directory (templates see this one)
    giturl: str
    gitref: str
    python: str
    resolver: str
    builders: tuple[str, ...]
    resolver_options: Mapping[str, Mapping[str, Any]]
    builder_options: Mapping[str, Mapping[str, Any]]
    gitdepth: int | None = None
    system_dependencies: tuple[str, ...] = ()
    pip_dependencies: tuple[str, ...] = ()
    postinstall_dependencies: tuple[str, ...] = ()
    include_config: bool = False
    force_overwrite: bool = False
    output_dir: Path = Path('output')
    where: str = ''
    #: the manifest's directory: relative paths in it (patches, templates)
    #: are relative to this.
    manifest_dir: Path = Path('.')
    #: keys whose value needs the clone (``project.commit``...): shown
    #: unresolved by ``--dry-run``.
    source_dependent: frozenset[str] = frozenset()
    #: ``giturl`` as the manifest writes it (a local path stays relative):
    #: the provenance in packages, SBOM and lock, the same in every copy of
    #: the release repository.  Empty: ``giturl``.
    source_url: str = ''

    @property
    def provenance_url(self) -> str:
        """The giturl to record: as written, else the resolved one."""
        return self.source_url or self.giturl

    def where_key(self, key: str) -> str:
        """``file:line`` of ``key`` in this project (or the settings)."""
        return self._locations.get(key, self.where)

    _locations: Mapping[str, str] = dataclasses.field(
        default_factory=dict, repr=False, compare=False)
    # package metadata and service integration (giftwrap.package.description)
    maintainer: str = ''
    vendor: str = ''
    license: str = ''
    homepage: str = ''
    summary: str = ''
    description: str = ''
    epoch: int = 0
    conflicts: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    scripts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    user: str = ''
    group: str = ''
    directories: tuple[str, ...] = ()
    systemd_units: Mapping[str, str] = dataclasses.field(default_factory=dict)
    systemd_enable: bool = False
    sudoers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    config_templates: Mapping[str, str] = dataclasses.field(
        default_factory=dict)
    # system dependencies, pip control, patches, smaller packages, side by
    # side installs (giftwrap.package.sysdeps, patches, strip); system_dependencies
    # is a mapping of format to lists when the manifest gives one.
    system_dependencies_exclude: tuple[str, ...] = ()
    system_dependencies_replace: Mapping[str, str] = dataclasses.field(
        default_factory=dict)
    bindep_profiles: tuple[str, ...] = ()
    #: distribution packages whose modules the virtualenv links
    #: (giftwrap.venv.syspython); a mapping of format to lists when given so
    system_python_packages: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    pip_overrides: Mapping[str, str] = dataclasses.field(default_factory=dict)
    pip_exclude: tuple[str, ...] = ()
    patches: tuple[str, ...] = ()
    strip: tuple[str, ...] = ()
    link_executables: str = ''
    installer: str = 'pip'
    #: build targets (see giftwrap.plan.targets): raw mappings, checked by
    #: the plan
    targets: tuple[Mapping[str, Any], ...] = ()
    #: commands (argument lists) ``giftwrap verify`` runs once the
    #: package is installed on a clean image of its target
    smoke: tuple[tuple[str, ...], ...] = ()


@dataclasses.dataclass(frozen=True)
class _Spec:
    """A project's raw (unrendered) values and where each came from."""

    name: str
    raw: Mapping[str, Any]
    where: str
    locations: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A loaded, validated manifest.

    :ivar path: the manifest file.
    :ivar settings: the raw ``settings`` mapping (after command-line
        overrides).
    """

    path: Path
    settings: Mapping[str, Any]
    specs: tuple[_Spec, ...]
    settings_locations: Mapping[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    def render(self, name: str, source: Mapping[str, str] | None = None,
               *, display: bool = False) -> Project:
        """The project ``name`` with every template rendered.

        :param source: :meth:`giftwrap.fetch.checkout.Checkout.template_values`
            of its clone; without it, stand-ins are used (checked like real
            values, or shown as ``<commit>`` with ``display``).
        :raises giftwrap.errors.ManifestError: a template or value is wrong.
        """
        spec = next(s for s in self.specs if s.name == name)
        if source is None:
            source = (templating.DISPLAY_SOURCE if display
                      else templating.SAMPLE_SOURCE)
        return _render(self, spec, source, check_version=not display)


def load(path: Path | str, *, version: str | None = None,
         output_dir: str | None = None) -> Manifest:
    """Load and validate the manifest at ``path``.

    :param version: ``-v`` from the command line; replaces ``settings.version``.
    :param output_dir: ``-o`` from the command line; replaces ``output_dir``.
    :raises giftwrap.errors.ManifestError: naming file:line and how to fix it.
    """
    path = Path(path).resolve()
    data = yamlfile.load(path)
    if not isinstance(data, dict):
        raise errors.ManifestError(
            'the manifest must be a mapping with "settings" and "projects"',
            where=f'{path}:1', hint=MANIFEST_DOCS)
    _check_keys(data, ('settings', 'projects'), path, 'the manifest')
    settings = data.get('settings') or yamlfile.LocatedDict()
    _expect(settings, dict, 'settings', path, data.lines.get('settings', 1))
    settings_loc = _check_section(settings, path, 'settings')
    settings = dict(settings)
    if version is not None:
        settings['version'] = version
        settings_loc['version'] = 'the command line (-v)'
    if output_dir is not None:
        settings['output_dir'] = str(Path(output_dir).resolve())
        settings_loc['output_dir'] = 'the command line (-o)'
    projects = data.get('projects')
    if not projects:
        raise errors.ManifestError(
            'the manifest lists no projects', where=f'{path}:{data.line}',
            hint='add a "projects:" list with at least one "- name: ..."')
    _expect(projects, list, 'projects', path, data.lines.get('projects', 1))
    specs = _specs(projects, settings, settings_loc, path)
    manifest = Manifest(path, types.MappingProxyType(settings), specs,
                        types.MappingProxyType(settings_loc))
    for spec in specs:  # every template and value, checked before any work
        manifest.render(spec.name)
    return manifest


def _specs(projects, settings, settings_loc, path) -> tuple[_Spec, ...]:
    specs, seen = [], {}
    for index, entry in enumerate(projects):
        line = projects.lines[index]
        _expect(entry, dict, f'projects[{index}]', path, line)
        locations = dict(settings_loc)
        locations.update(_check_section(entry, path, 'project'))
        name = entry.get('name')
        if not isinstance(name, str) or not name:
            raise errors.ManifestError(
                'a project has no name', where=f'{path}:{entry.line}',
                hint='every project needs "name:", e.g. "- name: nova"')
        where = f'{path}:{entry.lines["name"]}'
        if not _NAME.match(name) or '..' in name:
            raise errors.ManifestError(
                f'project name {name!r} is not a plain name', where=where,
                hint='use letters, digits and . _ + - only (no "/", "..", '
                     'spaces); it names directories and packages')
        if name in seen:
            raise errors.ManifestError(
                f'project {name!r} is listed twice (first at line {seen[name]})',
                where=where, hint='remove or rename one of them')
        seen[name] = entry.lines['name']
        specs.append(_Spec(name, _merge(settings, entry), where, locations))
    return tuple(specs)


def _check_section(section, path, scope) -> dict[str, str]:
    """Check keys and value types of ``settings`` or one project."""
    allowed = [k for k, f in FIELDS.items() if scope in f.scopes]
    locations = {}
    for key, value in section.items():
        where = f'{path}:{section.lines.get(key, section.line)}'
        if key in REJECTED:
            raise errors.ManifestError(
                f'{key!r} is no longer supported', where=where,
                hint=REJECTED[key])
        if key not in allowed:
            _unknown_key(key, allowed, where, scope)
        FIELDS[key].check(key, value, where)
        locations[key] = where
    return locations


def _unknown_key(key, allowed, where, scope):
    close = difflib.get_close_matches(str(key), allowed, n=1)
    other = 'project' if scope == 'settings' else 'settings'
    if close:
        hint = f'did you mean {close[0]!r}?'
    elif key in FIELDS:
        hint = f'{key!r} belongs in the {other} section'
    else:
        hint = f'{scope} keys are: ' + ', '.join(sorted(allowed))
    raise errors.ManifestError(f'unknown {scope} key {key!r}', where=where,
                               hint=hint)


def _check_keys(mapping, allowed, path, what):
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            raise errors.ManifestError(
                f'unknown key {key!r} in {what}',
                where=f'{path}:{mapping.lines.get(key, 1)}',
                hint=f'did you mean {close[0]!r}?' if close else
                f'allowed: {", ".join(allowed)}')


def _expect(value, kind, what, path, line):
    if not isinstance(value, kind):
        raise errors.ManifestError(
            f'{what} must be a {"mapping" if kind is dict else "list"}, not '
            f'{type(value).__name__}', where=f'{path}:{line}',
            hint=MANIFEST_DOCS)


def _merge(settings: Mapping[str, Any], project: Mapping[str, Any]) -> dict:
    """A project's effective raw values: its own over the settings'."""
    merged = {}
    for key, field in FIELDS.items():
        if 'project' not in field.scopes:
            continue
        if key in project and key in settings:
            merged[key] = field.merge(settings[key], project[key])
        elif key in project:
            merged[key] = project[key]
        elif key in settings:
            merged[key] = settings[key]
    return merged


def _render(manifest: Manifest, spec: _Spec, source, check_version: bool
            ) -> Project:
    raw = {'settings': _settings_values(manifest.settings),
           'project': _project_values(spec.raw, manifest)}

    def where(scope, key, explicit=False):
        loc = manifest.settings_locations if scope == 'settings' else spec.locations
        return loc.get(key) or (None if explicit else spec.where)

    renderer = templating.Renderer(raw, source, where, _BARE)
    values = {k: renderer.value('project', k) for k in raw['project']}
    return _project(manifest, spec, values, where, renderer, check_version)


def _settings_values(settings) -> dict[str, Any]:
    values = {k: f.default for k, f in FIELDS.items() if 'settings' in f.scopes
              and f.default is not None}
    values.update(settings)
    return values


def _project_values(raw, manifest) -> dict[str, Any]:
    values = {k: f.default for k, f in FIELDS.items() if 'project' in f.scopes
              and f.default is not None}
    values.update(raw)
    if raw.get('stackforge') and 'giturl' not in raw:
        values['giturl'] = 'https://opendev.org/x/{{ project.name }}'
    values['package_name'] = raw.get('package_name', manifest.settings.get(
        'package_name_format', FIELDS['package_name_format'].default))
    return values


def _project(manifest, spec, v, where, renderer, check_version) -> Project:
    def loc(key):
        return where('project', key)

    if not v.get('version'):
        raise errors.ManifestError(
            f'project {spec.name!r} has no version', where=spec.where,
            hint='set "version:" in settings (or the project), or pass -v')
    install_path = _install_path(v['install_path'], loc('install_path'))
    package_version = (versions.parse(v['version'], v['iteration'],
                                      where=loc('version'))
                       if check_version else _display_version(v))
    _check_package_name(v['package_name'], loc('package_name'))
    builders, resolver, resolver_options = _drivers(v)
    special = dict(
        name=spec.name, package_version=package_version,
        install_path=install_path,
        giturl=_giturl(v['giturl'], manifest.path), resolver=resolver,
        source_url=str(v['giturl']),
        builders=builders, resolver_options=_freeze(resolver_options),
        builder_options=_freeze(v.get('builder_options', {})),
        output_dir=_output_dir(manifest), where=spec.where,
        manifest_dir=manifest.path.parent,
        source_dependent=frozenset(k for s, k in renderer.source_dependent
                                   if s == 'project'),
        _locations=types.MappingProxyType(dict(spec.locations)))
    return Project(**special, **_plain_fields(v, special))


def _plain_fields(values, special) -> dict[str, Any]:
    """Every other Project field straight from its manifest key.

    Adding a manifest key is one Field in giftwrap.manifest.schema and one field on
    Project; lists become tuples and mappings read-only here.
    """
    plain = {}
    for field in dataclasses.fields(Project):
        if field.name in special or field.name not in values:
            continue
        value = values[field.name]
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v
                          for v in value)
        elif isinstance(value, dict):
            value = types.MappingProxyType(value)
        plain[field.name] = value
    return plain


def _display_version(v) -> versions.PackageVersion:
    version = str(v['version'])
    upstream, _, release = version.rpartition('-') if '-' in version else (
        version, '', str(v['iteration']))
    return versions.PackageVersion(upstream, release)


def _install_path(value: str, where: str) -> PurePosixPath:
    value = re.sub('/+', '/', str(value))
    path = PurePosixPath(value)
    if not path.is_absolute() or '..' in path.parts or path == PurePosixPath('/'):
        raise errors.ManifestError(
            f'install_path {value!r} must be an absolute path below /',
            where=where, hint='e.g. /opt/openstack/2025.1/nova; by default it '
            'is {{ settings.base_path }}/{{ project.name }}')
    return path


def _check_package_name(name: str, where: str) -> None:
    if not re.match(r'^[a-z0-9][a-z0-9.+-]+\Z', name):
        raise errors.ManifestError(
            f'package name {name!r} is not valid for deb and rpm', where=where,
            hint='use lower-case letters, digits and . + - (at least two '
                 'characters, starting with a letter or digit)')


def _drivers(v) -> tuple[tuple[str, ...], str, dict]:
    """Builders and resolver, with the 2014 keys as aliases."""
    builders = v.get('builders') or build_type_builders(v['build_type'])
    options = {k: dict(o) for k, o in v.get('resolver_options', {}).items()}
    resolver = v.get('resolver')
    if resolver is None and v.get('gerrit_dependencies') is True:
        resolver = 'gerrit-logs'
    if v.get('constraints'):
        uc = options.setdefault('upper-constraints', {})
        uc.setdefault('urls', list(v['constraints']))
        resolver = resolver or 'upper-constraints'
    return tuple(builders), resolver or 'upper-constraints', options


def build_type_builders(build_type: str) -> list[str]:
    """The builders a 2014 ``build_type`` (or ``-t``) word stands for.

    ``package`` is the host's native package format, built with fpm when
    it is installed (as the 2014 giftwrap did), else with nfpm; ``docker``
    the docker builder.  Any other word is a builder name.
    """
    if build_type != 'package':
        return [build_type]
    return [_native_packager()]


_NOTICED: set[str] = set()


def _native_packager() -> str:
    """fpm for the host's format if installed, else nfpm (noticed once)."""
    fmt = 'rpm' if _rpm_host() else 'deb'
    if find_tool('fpm') is not None:
        return f'fpm-{fmt}'
    if fmt not in _NOTICED:  # every project renders this; say it once
        _NOTICED.add(fmt)
        LOG.warning('fpm is not installed: build_type "package" builds with '
                    'nfpm-%s (install fpm, or name the builder with '
                    '"builders:")', fmt)
    return f'nfpm-{fmt}'


def _rpm_host() -> bool:
    return shutil.which('dpkg') is None and shutil.which('rpm') is not None


def _giturl(url: str, manifest_path: Path) -> str:
    """Where to fetch ``url``: a local path resolved against the manifest."""
    if re.match(r'^[A-Za-z][A-Za-z0-9+.-]*://', url) or re.match(
            r'^[^/]+@[^/]+:', url):
        return url
    return str((manifest_path.parent / url).resolve())


def _output_dir(manifest: Manifest) -> Path:
    value = manifest.settings.get('output_dir')
    if value is None:
        return Path.cwd() / 'output'
    return (manifest.path.parent / str(value)).resolve()


def _freeze(options: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    return types.MappingProxyType(
        {k: types.MappingProxyType(dict(o or {})) for k, o in options.items()})


__all__ = ['Field', 'Manifest', 'Project', 'load', 'build_type_builders']

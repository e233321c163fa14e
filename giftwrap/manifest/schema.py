"""Every manifest key: where it may appear, its type, default and merging.

A new manifest key is one line here (and its use where it matters).  Keys in
both scopes are defaults in ``settings`` that a project may override:
mappings deep-merge, the ``*_dependencies`` lists add up, anything else in
the project replaces the settings' value.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from giftwrap import errors

SETTINGS = frozenset({'settings'})
PROJECT = frozenset({'project'})
BOTH = SETTINGS | PROJECT

_TYPE_NAMES = {str: 'a string', bool: 'true or false', int: 'a whole number',
               list: 'a list', dict: 'a mapping'}


@dataclasses.dataclass(frozen=True)
class Field:
    """One manifest key.

    :ivar type: the YAML type of the value.
    :ivar items: the type of list items or mapping values, if checked.
    :ivar merge_rule: ``replace``, ``extend`` (lists add up) or ``deep``
        (mappings merge recursively).
    """

    type: type
    scopes: frozenset = BOTH
    default: Any = None
    items: type | None = None
    merge_rule: str = 'replace'
    help: str = ''
    #: the only values allowed, if not empty
    choices: tuple = ()

    def check(self, key: str, value: Any, where: str) -> None:
        """Raise ManifestError unless ``value`` has this field's type."""
        if not _is(value, self.type):
            hint = self.help or None
            if self.type is str and isinstance(value, (int, float)):
                hint = (f'quote it: {key}: "{value}" (YAML reads 2025.10 '
                        'as the number 2025.1)')
            raise errors.ManifestError(
                f'{key!r} must be {_TYPE_NAMES[self.type]}, not '
                f'{_describe(value)}', where=where, hint=hint)
        if self.choices and value not in self.choices:
            raise errors.ManifestError(
                f'{key!r} must be one of {", ".join(self.choices)}, not '
                f'{_describe(value)}', where=where, hint=self.help or None)
        if self.items is None:
            return
        values = value if isinstance(value, list) else value.values()
        for item in values:
            if not _is(item, self.items):
                raise errors.ManifestError(
                    f'every item of {key!r} must be {_TYPE_NAMES[self.items]}, '
                    f'not {_describe(item)}', where=where,
                    hint=self.help or None)

    def merge(self, settings_value: Any, project_value: Any) -> Any:
        """The project's value given the settings' one."""
        if self.merge_rule == 'extend':
            return list(settings_value) + [
                v for v in project_value if v not in settings_value]
        if self.merge_rule == 'deep':
            return deep_merge(settings_value, project_value)
        return project_value


class RequirementsField(Field):
    """A list of pip requirements: never a pip option."""

    def check(self, key: str, value: Any, where: str) -> None:
        super().check(key, value, where)
        for item in value:
            if item.lstrip().startswith('-') or '\n' in item:
                raise errors.ManifestError(
                    f'{key!r} lists {item!r}, which is not a requirement',
                    where=where,
                    hint='give requirements only (name, name==version, a URL '
                         'or a path); index settings belong in pip\'s or '
                         'uv\'s own configuration (pip.conf, PIP_INDEX_URL)')


#: Keys of a per-format mapping (``system_dependencies: {deb: [...]}``);
#: ``all`` is every format.
FORMAT_KEYS = ('all', 'deb', 'rpm')


def per_format(value: Any) -> dict[str, list]:
    """A :class:`PerFormatField` value as a mapping (a list is ``all``)."""
    if isinstance(value, Mapping):
        return {k: list(v or ()) for k, v in value.items()}
    return {'all': list(value or ())}


@dataclasses.dataclass(frozen=True)
class PerFormatField(Field):
    """A list for every package format, or a mapping of format to list.

    Merging adds the lists of each format up, so the settings may give a
    list and a project a mapping (or the other way round).
    """

    def check(self, key: str, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            return super().check(key, value, where)
        for fmt, items in value.items():
            if fmt not in FORMAT_KEYS:
                raise errors.ManifestError(
                    f'{key!r} names the unknown format {fmt!r}', where=where,
                    hint=f'a list for every format, or a mapping of '
                         f'{", ".join(FORMAT_KEYS)} to lists')
            super().check(f'{key}.{fmt}', items, where)

    def merge(self, settings_value: Any, project_value: Any) -> Any:
        if isinstance(settings_value, list) and \
                isinstance(project_value, list):
            return super().merge(settings_value, project_value)
        base, over = per_format(settings_value), per_format(project_value)
        return {fmt: Field.merge(self, base.get(fmt, []), over.get(fmt, []))
                for fmt in FORMAT_KEYS if fmt in base or fmt in over}


#: A package name as deb and rpm spell it (no version: what is installed
#: is what gets linked).
_PACKAGE_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]*\Z')


@dataclasses.dataclass(frozen=True)
class PackageNamesField(PerFormatField):
    """A :class:`PerFormatField` of plain package names."""

    def check(self, key: str, value: Any, where: str) -> None:
        super().check(key, value, where)
        for name in (n for names in per_format(value).values() for n in names):
            if not _PACKAGE_NAME.match(name):
                raise errors.ManifestError(
                    f'{key} entry {name!r} is not a package name',
                    where=where, hint=self.help or None)


@dataclasses.dataclass(frozen=True)
class ChoiceListField(Field):
    """A list whose items are names from ``allowed``."""

    allowed: tuple[str, ...] = ()

    def check(self, key: str, value: Any, where: str) -> None:
        super().check(key, value, where)
        for item in value:
            if item not in self.allowed:
                raise errors.ManifestError(
                    f'{key!r} has the unknown item {item!r}', where=where,
                    hint=f'{key} items are: {", ".join(self.allowed)}')


class CommandsField(Field):
    """A list of commands, each an argument list of strings: never a shell
    string, so no value is ever split or interpreted by a shell."""

    def check(self, key: str, value: Any, where: str) -> None:
        super().check(key, value, where)
        for item in value:
            if not item or not all(isinstance(word, str) for word in item):
                shown = list(item) if isinstance(item, list) else item
                raise errors.ManifestError(
                    f'every item of {key!r} must be a non-empty list of '
                    f'strings (a program and its arguments), not '
                    f'{_describe(shown)}', where=where, hint=self.help or None)


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base``, mappings recursively."""
    result = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _is(value: Any, kind: type) -> bool:
    if kind is int and isinstance(value, bool):
        return False
    return isinstance(value, kind)


def _describe(value: Any) -> str:
    if value is None:
        return 'empty'
    return f'{type(value).__name__} {value!r}'[:80]


FIELDS: dict[str, Field] = {
    # settings only
    'package_name_format': Field(str, SETTINGS,
                                 default='openstack-{{ project.name }}'),
    'build_type': Field(str, BOTH, default='package',
                        help='package (the host\'s package format) or docker'),
    'gerrit_dependencies': Field(bool, BOTH),
    'constraints': Field(list, BOTH, items=str,
                         help='a list of upper-constraints URLs or paths'),
    'output_dir': Field(str, SETTINGS),
    'parallel_build': Field(bool, SETTINGS, default=True),
    # projects only
    'name': Field(str, PROJECT),
    'package_name': Field(str, PROJECT),
    'stackforge': Field(bool, PROJECT),
    # either: settings give the default, projects override
    'version': Field(str, BOTH),
    'iteration': Field(str, BOTH, default='1'),
    'base_path': Field(str, BOTH, default='/opt/openstack'),
    'install_path': Field(
        str, BOTH, default='{{ project.base_path }}/{{ project.name }}'),
    'giturl': Field(str, BOTH,
                    default='https://opendev.org/openstack/{{ project.name }}'),
    'gitref': Field(str, BOTH, default='master'),
    'gitdepth': Field(int, BOTH),
    'python': Field(str, BOTH, default='/usr/bin/python3'),
    'builders': Field(list, BOTH, items=str,
                      help='builder names, see giftwrap list-builders'),
    'resolver': Field(str, BOTH, help='see giftwrap list-resolvers'),
    'builder_options': Field(dict, BOTH, items=dict, merge_rule='deep',
                             help='a mapping of builder name to its options'),
    'resolver_options': Field(dict, BOTH, items=dict, merge_rule='deep',
                              help='a mapping of resolver name to its options'),
    'system_dependencies': PerFormatField(
        list, BOTH, items=str, merge_rule='extend',
        help='package names (and versions): a list for every format, or a '
             'mapping of all, deb and rpm to lists'),
    'pip_dependencies': RequirementsField(list, BOTH, items=str,
                                          merge_rule='extend'),
    'postinstall_dependencies': RequirementsField(list, BOTH, items=str,
                                                  merge_rule='extend'),
    'targets': Field(list, BOTH, items=dict,
                     help='build targets: [{name, image, format, python}]'),
    'include_config': Field(bool, BOTH, default=False),
    'force_overwrite': Field(bool, BOTH, default=False),
    'installer': Field(str, BOTH, default='pip', help='pip or uv',
                       choices=('pip', 'uv')),
    # package metadata and service integration (giftwrap.package.description)
    'maintainer': Field(str, BOTH, help='"Name <email>" of the packager'),
    'vendor': Field(str, BOTH),
    'license': Field(str, BOTH, help='e.g. Apache-2.0'),
    'homepage': Field(str, BOTH, help='a URL'),
    'summary': Field(str, BOTH, help='one line saying what the package is'),
    'description': Field(str, BOTH),
    'epoch': Field(int, BOTH, help='a whole number, 0 for none'),
    'conflicts': Field(list, BOTH, items=str, merge_rule='extend'),
    'provides': Field(list, BOTH, items=str, merge_rule='extend'),
    'replaces': Field(list, BOTH, items=str, merge_rule='extend'),
    'scripts': Field(dict, BOTH, items=str, merge_rule='deep',
                     help='preinst/postinst/prerm/postrm: a template file '
                          'or inline shell (text with a line break)'),
    'user': Field(str, BOTH, help='the system user the service runs as'),
    'group': Field(str, BOTH, help='its group (default: the user\'s name)'),
    'directories': Field(list, BOTH, items=str, merge_rule='extend',
                         help='absolute paths the service user owns'),
    'systemd_units': Field(dict, BOTH, items=str, merge_rule='deep',
                           help='unit file name: a template file or inline '
                                'text'),
    'systemd_enable': Field(bool, BOTH, default=False),
    'sudoers': Field(dict, BOTH, items=str, merge_rule='deep',
                     help='file name in /etc/sudoers.d: a template file or '
                          'inline text'),
    'config_templates': Field(dict, BOTH, items=str, merge_rule='deep',
                              help='absolute path of a configuration file: '
                                   'a template file or inline text'),
    # system dependencies, pip control, patches, smaller packages and side
    # by side installs (giftwrap.package.sysdeps, patches, strip)
    'system_dependencies_exclude': Field(
        list, BOTH, items=str, merge_rule='extend',
        help='dependencies to leave out, whatever declared or discovered '
             'them: package names, rpm capabilities or library sonames'),
    'system_dependencies_replace': Field(
        dict, BOTH, items=str, merge_rule='deep',
        help='name: relation; a dependency (or a discovered library\'s '
             'soname) replaced by the relation'),
    'system_python_packages': PackageNamesField(
        list, BOTH, items=str, merge_rule='extend',
        help='distribution packages whose Python modules the virtualenv '
             'links (e.g. [python3-rbd, python3-rados]): names only, a list '
             'for every format or a mapping of all, deb and rpm to lists'),
    'bindep_profiles': Field(list, BOTH, items=str, merge_rule='extend',
                             help='bindep.txt profiles whose entries are '
                                  'runtime dependencies too'),
    'extras': Field(list, BOTH, items=str,
                    help='the project\'s extras to install, e.g. [ldap]'),
    'pip_overrides': Field(dict, BOTH, items=str, merge_rule='deep',
                           help='distribution: version, replacing its pin '
                                '(quote the version)'),
    'pip_exclude': Field(list, BOTH, items=str, merge_rule='extend',
                         help='distributions whose pin is removed'),
    'patches': Field(list, PROJECT, items=str,
                     help='patch files (-p1, relative to the manifest), '
                          'applied in order after checkout'),
    'strip': ChoiceListField(
        list, BOTH, items=str, allowed=('tests', 'pycache', 'sources'),
        help='tests: no tests/ of installed distributions; pycache: '
             'byte-compile at install time; sources: the project\'s '
             'byte-code without its .py files'),
    'link_executables': Field(str, BOTH,
                              help='a directory (e.g. /usr/local/bin) where '
                                   'update-alternatives links the '
                                   'project\'s console scripts'),
    # giftwrap verify / build --verify (giftwrap.run.verify)
    'smoke': CommandsField(
        list, BOTH, items=list,
        help='commands run after installing the package on a clean image, '
             'each a list: [[\'{{ project.install_path }}/bin/nova-manage\', '
             '\'--help\']]'),
}

#: 2014 keys that no longer work, and what to write instead.
REJECTED = {
    'venv_command': 'giftwrap builds the virtualenv itself with virtualenv; '
                    'choose the interpreter with "python: /usr/bin/python3.11"',
    'install_command': 'giftwrap runs pip itself; add packages with '
                       'pip_dependencies / postinstall_dependencies and pins '
                       'with a resolver',
}

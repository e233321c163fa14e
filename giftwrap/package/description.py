"""One description of a package, shared by every packager.

Builders map a :class:`PackageDescription` to their tool's configuration;
nothing here knows about nfpm, fpm or rpmbuild.  Values come from the
manifest first and from the project's own metadata (its ``METADATA`` in the
virtualenv) where the manifest is silent.  What differs between formats
(the spelling of names, architectures and relations, the maintainer
scripts, files only one format ships) is decided here once, and a packager
reads it from :meth:`PackageDescription.target`.
"""

from __future__ import annotations

import dataclasses
import email.parser
import logging
import os
import platform
import re
import types
from pathlib import Path, PurePosixPath
from typing import Mapping

from packaging.utils import canonicalize_name

from giftwrap import errors
from giftwrap.manifest import schema, versions
from giftwrap.package import sysdeps
from giftwrap.venv import syspython

LOG = logging.getLogger(__name__)

#: The package formats a description spells itself for.
FORMATS = ('deb', 'rpm')
#: Maintainer scripts, by their Debian names (rpm: %pre %post %preun %postun).
SCRIPTS = ('preinst', 'postinst', 'prerm', 'postrm')
#: What a service user needs on each format to be created by the scripts.
USER_TOOLS = {'deb': 'adduser', 'rpm': 'shadow-utils'}
#: What registering links with update-alternatives needs (dpkg has it).
ALTERNATIVES_TOOLS = {'deb': '', 'rpm': '/usr/sbin/update-alternatives'}
DEFAULT_MAINTAINER = 'giftwrap <giftwrap@localhost>'

_DEB_ARCH = {'x86_64': 'amd64', 'aarch64': 'arm64', 'armv7l': 'armhf',
             'ppc64le': 'ppc64el', 's390x': 's390x', 'i686': 'i386'}
_RELATION = re.compile(
    r'^\s*(?P<name>[^\s()<>=!|,]+)\s*(?:(?P<paren>\()?\s*'
    r'(?P<op><<|>>|<=|>=|=|<|>)\s*(?P<version>[^\s()]+)\s*(?(paren)\)))?\s*\Z')
_RELATION_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+:~-]*\Z')
_RELATION_VERSION = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+:~^-]*\Z')
_DEB_OPS = {'<': '<<', '>': '>>'}
_RPM_OPS = {'<<': '<', '>>': '>'}


@dataclasses.dataclass(frozen=True)
class GeneratedFile:
    """A file giftwrap writes into the package (a unit, a sudoers file...).

    :ivar dst: where it is installed.
    :ivar text: its whole content.
    :ivar config: a configuration file (conffile, ``%config(noreplace)``).
    :ivar formats: the formats that ship it.
    :ivar compress: installed gzipped (as ``gzip -n``: no name, no time).
    """

    dst: PurePosixPath
    text: str
    mode: int = 0o644
    config: bool = False
    formats: frozenset[str] = frozenset(FORMATS)
    compress: bool = False


@dataclasses.dataclass(frozen=True)
class Service:
    """What the package's scripts set up for a service.

    :ivar user: the system user to create, or ``''``.
    :ivar directories: created (owned by the user) on install, removed on
        a Debian purge.
    :ivar units: systemd unit file names, installed in :data:`UNIT_DIR`.
    :ivar enable: enable the units on the first install.
    """

    user: str = ''
    group: str = ''
    home: str = '/nonexistent'
    directories: tuple[PurePosixPath, ...] = ()
    units: tuple[str, ...] = ()
    enable: bool = False


#: Where systemd units go (both formats: merged /usr on Debian since 12).
UNIT_DIR = PurePosixPath('/usr/lib/systemd/system')


@dataclasses.dataclass(frozen=True)
class Alternative:
    """A console script the package links with update-alternatives.

    :ivar name: the alternative's name (the script's).
    :ivar link: the link in ``link_executables``.
    :ivar path: the script in the virtualenv.
    :ivar priority: higher wins in automatic mode: newer versions.
    """

    name: str
    link: PurePosixPath
    path: PurePosixPath
    priority: int


@dataclasses.dataclass(frozen=True)
class Target:
    """The description spelled for one format: what a packager maps.

    Relations are in the format's syntax (``foo (>= 1)`` or ``foo >= 1``);
    ``config_files`` includes the generated ones; ``scripts`` maps the
    names of :data:`SCRIPTS` present to their text.
    """

    format: str
    name: str
    version: versions.PackageVersion
    arch: str
    filename: str
    summary: str
    description: str
    maintainer: str
    vendor: str
    license: str
    homepage: str
    depends: tuple[str, ...]
    conflicts: tuple[str, ...]
    provides: tuple[str, ...]
    replaces: tuple[str, ...]
    config_files: tuple[PurePosixPath, ...]
    files: tuple[GeneratedFile, ...]
    scripts: Mapping[str, str]

    @property
    def full_description(self) -> str:
        """The summary, a line break and the long description.

        Packagers take the first line as the deb synopsis (and the rpm
        Summary).
        """
        if self.description:
            return f'{self.summary}\n{self.description}'
        return self.summary


@dataclasses.dataclass(frozen=True)
class PackageDescription:
    """What every packager needs to know about one package.

    :ivar depends: relations common to every format: ``name``, ``name >=
        1.0`` or ``name (>= 1.0)``.
    :ivar config_files: installed paths of configuration files.
    :ivar native: compiled code inside: architecture-specific.
    :ivar scripts: format -> script name -> text of the maintainer script.
    :ivar format_depends: format -> its whole depends (the interpreter,
        the manifest's, bindep.txt's and the discovered ones), where they
        differ from ``depends``.
    :ivar unresolved: format -> libraries no package owns: :meth:`target`
        fails for that format.
    :ivar alternatives: console scripts linked with update-alternatives.
    :ivar compile_at_install: no byte-code shipped: the scripts compile it.
    """

    name: str
    version: versions.PackageVersion
    install_path: PurePosixPath
    summary: str
    description: str = ''
    maintainer: str = DEFAULT_MAINTAINER
    vendor: str = ''
    license: str = ''
    homepage: str = ''
    depends: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    config_files: tuple[PurePosixPath, ...] = ()
    native: bool = False
    machine: str = dataclasses.field(default_factory=platform.machine)
    files: tuple[GeneratedFile, ...] = ()
    scripts: Mapping[str, Mapping[str, str]] = dataclasses.field(
        default_factory=dict)
    service: Service = Service()
    format_depends: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=dict)
    unresolved: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=dict)
    alternatives: tuple[Alternative, ...] = ()
    compile_at_install: bool = False

    @property
    def deb_name(self) -> str:
        """Debian allows no upper case and no ``_`` in names."""
        return self.name.lower().replace('_', '-')

    @property
    def rpm_name(self) -> str:
        return self.name

    @property
    def deb_arch(self) -> str:
        return _DEB_ARCH.get(self.machine, self.machine) if self.native else 'all'

    @property
    def rpm_arch(self) -> str:
        return self.machine if self.native else 'noarch'

    @property
    def deb_filename(self) -> str:
        """``name_version_arch.deb`` (Debian's convention, no epoch)."""
        v = f'{self.version.upstream}-{self.version.release}'
        return f'{self.deb_name}_{v}_{self.deb_arch}.deb'

    @property
    def rpm_filename(self) -> str:
        """``name-version-release.arch.rpm``"""
        return (f'{self.rpm_name}-{self.version.upstream}-'
                f'{self.version.release}.{self.rpm_arch}.rpm')

    def target(self, fmt: str) -> Target:
        """This description spelled for ``fmt`` (one of :data:`FORMATS`).

        :raises giftwrap.errors.BuildError: compiled code needs a library
            that no package of this format owns on the build machine.
        """
        if fmt not in FORMATS:
            raise ValueError(f'unknown package format {fmt!r}')
        if self.unresolved.get(fmt):
            raise errors.BuildError(
                f'no installed {fmt} package owns '
                f'{", ".join(self.unresolved[fmt])}',
                hint='install the package that provides it here, name it '
                     'with system_dependencies_replace (soname: package) '
                     'or drop it with system_dependencies_exclude')
        files = tuple(f for f in self.files if fmt in f.formats)
        depends = self.format_depends.get(fmt, self.depends)
        for needed, tool in ((self.service.user, USER_TOOLS[fmt]),
                             (self.alternatives, ALTERNATIVES_TOOLS[fmt])):
            if needed and tool and tool not in depends:
                depends += (tool,)
        config = set(self.config_files) | {f.dst for f in files if f.config}
        return Target(
            format=fmt, name=getattr(self, f'{fmt}_name'),
            version=self.version, arch=getattr(self, f'{fmt}_arch'),
            filename=getattr(self, f'{fmt}_filename'),
            summary=self.summary.strip() or self.name,
            description=self.description.strip(),
            maintainer=self.maintainer, vendor=self.vendor,
            license=self.license, homepage=self.homepage,
            depends=relations(depends, fmt),
            conflicts=relations(self.conflicts, fmt),
            provides=relations(self.provides, fmt, provides=True),
            replaces=relations(self.replaces, fmt),
            config_files=tuple(sorted(config)), files=files,
            scripts=types.MappingProxyType(dict(self.scripts.get(fmt, {}))))


def relations(values, fmt: str, *, provides: bool = False
              ) -> tuple[str, ...]:
    """Relations spelled for ``fmt``; a value that does not parse is kept
    as it is (:func:`check_relation` refuses it earlier)."""
    return tuple(_relation(v, fmt, provides) for v in values)


def _relation(value: str, fmt: str, provides: bool) -> str:
    match = _RELATION.match(value)
    if match is None:
        return value
    name, op, version = match.group('name', 'op', 'version')
    if not op:
        return name
    if fmt == 'deb':
        # Debian's Provides accepts "=" only: a versioned provide is exact.
        op = '=' if provides else _DEB_OPS.get(op, op)
        return f'{name} ({op} {version})'
    return f'{name} {_RPM_OPS.get(op, op)} {version}'


def check_relation(value: str, key: str, where: str | None) -> None:
    """Refuse a relation that is not ``name [op version]``.

    :raises giftwrap.errors.ManifestError: alternatives (``a | b``), lists
        or anything else the formats do not share.
    """
    match = _RELATION.match(value)
    if match is None or not _RELATION_NAME.match(match.group('name')) or (
            match.group('version') and
            not _RELATION_VERSION.match(match.group('version'))):
        raise errors.ManifestError(
            f'{key} entry {value!r} is not "name" or "name OP version"',
            where=where, hint='e.g. "libxml2" or "libxml2 >= 2.9" (one '
            'package per entry; OP is one of < <= = >= >)')


def describe(project, tree, interpreter, checkout=None, *, bindep=None,
             discovered=None, epoch: int | None = None,
             patches=()) -> PackageDescription:
    """Build the description of ``project``'s package from its staged tree.

    :param project: the rendered :class:`giftwrap.manifest.loader.Project`.
    :param tree: the :class:`giftwrap.package.builder.StagedTree`.
    :param interpreter: the interpreter the package depends on.
    :param checkout: the project's checkout (for the commit), if known.
    :param bindep: the project's :class:`giftwrap.package.sysdeps.Bindep`, if any.
    :param discovered: the libraries its compiled code needs
        (:func:`giftwrap.package.sysdeps.discover`).
    :param epoch: the build's ``SOURCE_DATE_EPOCH`` (default: the
        environment's, else the commit's date), which dates the changelog.
    :param patches: the :class:`giftwrap.fetch.patches.Patch` es applied.
    :raises giftwrap.errors.ManifestError: a bad relation, user, directory,
        unit name, path or template.
    """
    from giftwrap.package import scripts  # templates need the description

    meta = project_metadata(tree.venv, project.name)
    check_relations(project)
    depends = sysdeps.for_format(project, None, first=(
        interpreter.package, *syspython.requested(project, None))).depends
    by_format = {fmt: sysdeps.for_format(
        project, fmt, first=(interpreter.package,
                             *syspython.requested(project, fmt)),
        discovered=discovered,
        bindep_runtime=sysdeps.runtime(bindep, fmt, project.bindep_profiles))
        for fmt in FORMATS}
    service = _service(project)
    commit = f' (commit {checkout.commit})' if checkout is not None else ''
    package = PackageDescription(
        name=project.package_name,
        version=_version(project),
        install_path=PurePosixPath(project.install_path),
        summary=project.summary or meta.summary or
        f'{project.name} {project.version} in a virtualenv at '
        f'{project.install_path}',
        description=project.description or
        f'{project.name} built by giftwrap from {project.provenance_url} at '
        f'{project.gitref}{commit}.',
        maintainer=project.maintainer or meta.maintainer or
        DEFAULT_MAINTAINER,
        vendor=project.vendor, license=project.license or meta.license,
        homepage=project.homepage or meta.homepage, depends=depends,
        conflicts=project.conflicts, provides=project.provides,
        replaces=project.replaces,
        config_files=_config_files(tree), native=tree.native,
        service=service,
        format_depends={f: r.depends for f, r in by_format.items()},
        unresolved={f: r.unowned for f, r in by_format.items() if r.unowned},
        compile_at_install='pycache' in project.strip)
    if epoch is None:
        epoch = int(os.environ.get('SOURCE_DATE_EPOCH') or (
            checkout.commit_date.timestamp() if checkout is not None else 0))
    docs = scripts.DocFacts(commit=checkout.commit if checkout is not None
                            else 'unknown', epoch=epoch, patches=tuple(patches))
    return scripts.complete(package, project, tree, docs=docs)


def check_project(project) -> None:
    """What :func:`describe` checks of the manifest's values, without a
    virtualenv: relations, epoch, user, group and directories.

    :raises giftwrap.errors.ManifestError: naming the key's line.
    """
    check_relations(project)
    _version(project)
    _service(project)


def check_relations(project) -> None:
    declared = [(k, v) for k, values in schema.per_format(
        project.system_dependencies).items() for v in values]
    for key, values in (('system_dependencies', [v for _, v in declared]),
                        ('system_dependencies_replace',
                         list(project.system_dependencies_replace.values())),
                        ('conflicts', project.conflicts),
                        ('provides', project.provides),
                        ('replaces', project.replaces)):
        for value in values:
            check_relation(value, key, project.where_key(key))


def _version(project) -> versions.PackageVersion:
    epoch = project.epoch or 0
    if epoch < 0:
        raise errors.ManifestError(
            f'epoch {epoch} is negative', where=project.where_key('epoch'),
            hint='leave it out, or use a whole number above 0')
    return dataclasses.replace(project.package_version, epoch=epoch)


def _config_files(tree) -> tuple[PurePosixPath, ...]:
    """The tree's config files and every file under ``install_path/etc``."""
    found = set(tree.config_files)
    etc = tree.venv / 'etc'
    if etc.is_dir() and not etc.is_symlink():
        for dirpath, _, filenames in os.walk(etc):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    rel = os.path.relpath(path, tree.venv)
                    found.add(tree.install_path / PurePosixPath(rel))
    return tuple(sorted(found))


_ACCOUNT = re.compile(r'^[a-z_][a-z0-9_-]{0,31}\Z')
_SAFE_PATH = re.compile(r'^(/[A-Za-z0-9._+@:,=~-]+)+\Z')
# Never created, chowned or (on purge) removed by a package's scripts.
_SYSTEM_DIRS = frozenset(PurePosixPath(p) for p in (
    '/bin /boot /dev /etc /home /lib /lib64 /media /mnt /opt /proc /root '
    '/run /sbin /srv /sys /tmp /usr /var /var/lib /var/log /var/cache '
    '/var/spool /var/tmp /var/opt /var/run /var/mail /var/local /var/backups '
    '/usr/lib /usr/lib64 /usr/share /usr/local /usr/bin /usr/sbin '
    '/usr/libexec /usr/include /etc/opt /etc/systemd /etc/sudoers.d '
    '/lib32 /libx32 /usr/lib32 /usr/libx32 /usr/src /usr/games /usr/local/bin '
    '/usr/local/sbin /usr/local/lib /usr/local/share /usr/local/etc '
    '/usr/local/include /usr/local/src /usr/local/games /usr/local/man '
    '/usr/share/doc /usr/share/man /usr/share/info /usr/share/misc '
    '/var/lock /var/crash /var/games /var/account /var/yp /etc/default '
    '/etc/init.d /etc/X11 /etc/xml /etc/sgml /etc/skel /etc/apt /etc/yum.repos.d '
    '/etc/pki /etc/ssl /etc/security /etc/pam.d /etc/cron.d '
    '/etc/logrotate.d /etc/profile.d /etc/ld.so.conf.d /etc/sysctl.d '
    '/etc/tmpfiles.d /etc/sysconfig /srv/www /var/www /var/lib/dpkg '
    '/var/lib/rpm /var/lib/apt /var/lib/systemd /var/cache/apt').split())


def _service(project) -> Service:
    where = project.where_key
    user, group = project.user, project.group or project.user
    for key, name in (('user', user), ('group', group)):
        if name and not _ACCOUNT.match(name):
            raise errors.ManifestError(
                f'{key} {name!r} is not a valid system account name',
                where=where(key), hint='lower-case letters, digits, _ and - '
                '(at most 32, not starting with a digit or -)')
    if group and not user:
        raise errors.ManifestError(
            'group is set without user', where=where('group'),
            hint='set "user:" too (the group defaults to its name)')
    install = PurePosixPath(project.install_path)
    dirs = tuple(_directory(d, install, where('directories'))
                 for d in project.directories)
    units = tuple(project.systemd_units)
    home = next((str(d) for d in dirs if str(d).startswith('/var/lib/')),
                str(dirs[0]) if dirs else '/nonexistent')
    return Service(user=user, group=group, home=home,
                   directories=tuple(dict.fromkeys(dirs)), units=units,
                   enable=project.systemd_enable and bool(units))


def _directory(value: str, install: PurePosixPath, where: str
               ) -> PurePosixPath:
    path = PurePosixPath(value)
    if (not _SAFE_PATH.match(value) or '..' in path.parts
            or str(path) != value):
        raise errors.ManifestError(
            f'directory {value!r} is not a plain absolute path', where=where,
            hint='e.g. /var/lib/nova (letters, digits and ._+@:,=~- only)')
    if path in _SYSTEM_DIRS or path == install or path in install.parents \
            or install in path.parents:
        raise errors.ManifestError(
            f'directory {value} is a system directory or part of the '
            f'install path', where=where,
            hint='name a directory of the service itself, e.g. '
                 '/var/lib/nova: it is removed when the package is purged')
    return path


@dataclasses.dataclass(frozen=True)
class Metadata:
    """What a distribution's ``METADATA`` says that a package can use."""

    summary: str = ''
    license: str = ''
    homepage: str = ''
    maintainer: str = ''


def project_metadata(venv: Path, name: str) -> Metadata:
    """Read the ``METADATA`` of distribution ``name`` installed in ``venv``.

    :returns: empty :class:`Metadata` if it is not installed there.
    """
    found = dist_info(venv, name)
    path = found / 'METADATA' if found else None
    if path is not None and path.is_file():
        return _parse_metadata(path.read_text(encoding='utf-8',
                                              errors='replace'))
    LOG.debug('no METADATA of %s in %s', name, venv)
    return Metadata()


def dist_info(venv: Path, name: str) -> Path | None:
    """The ``.dist-info`` directory of distribution ``name`` in ``venv``."""
    wanted = canonicalize_name(name)
    for path in sorted(venv.glob('lib/python*/site-packages/*.dist-info')):
        dist = path.name[:-len('.dist-info')].split('-')[0]
        if canonicalize_name(dist) == wanted:
            return path
    return None


def _parse_metadata(text: str) -> Metadata:
    headers = email.parser.HeaderParser().parsestr(text)

    def one(field: str) -> str:
        value = headers.get(field) or ''
        value = ' '.join(str(value).split())  # unfold; no control characters
        return '' if value.upper() == 'UNKNOWN' else value

    license = one('License-Expression')
    if not license and '\n' not in str(headers.get('License') or '').strip():
        license = one('License')  # a whole license text is no name
    return Metadata(summary=one('Summary'), license=license[:200],
                    homepage=one('Home-page') or _project_url(headers),
                    maintainer=_contact(one('Maintainer'),
                                        one('Maintainer-email'))
                    or _contact(one('Author'), one('Author-email')))


def _project_url(headers) -> str:
    for value in headers.get_all('Project-URL') or ():
        label, _, url = str(value).partition(',')
        if label.strip().lower().replace('-', '') in (
                'homepage', 'home', 'source', 'sourcecode', 'repository'):
            return url.strip()
    return ''


def _contact(name: str, email_: str) -> str:
    """``Name <address>``, or ``''`` without an address."""
    email_ = email_.split(',')[0].strip()
    if not email_:
        return ''
    if '<' in email_:  # PEP 621 style: "Name <address>" already
        return email_
    return f'{name or email_.partition("@")[0]} <{email_}>'

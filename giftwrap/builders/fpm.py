"""fpm-deb and fpm-rpm: the nfpm builders' packages, built with fpm.

``fpm -s dir`` gets one argv list, never a shell line.  Every option is one
word, ``--name=value``: fpm's option parser (Clamp) splits such a word at
its first ``=`` and takes the rest as the value whatever it starts with, so
a value such as ``-x`` can never be read as an option (with ``--name -x``
it would be the value too, but only as long as the option takes one).
The inputs follow ``--`` as ``src=dst`` mappings; fpm splits them at the
first ``=``, so a staging path holding ``=`` is refused.

fpm reads more flags from ``$FPMOPTS``, ``./.fpm`` and ``~/.fpm``: it runs
in an empty directory of its own, with ``HOME`` there and only ``PATH``,
the gem paths from the operator's environment, and ``SOURCE_DATE_EPOCH``
(:func:`build_time`).

What fpm adds of its own, and how the packages are kept equal to nfpm's
(checked against fpm 1.17):

* deb: fpm always writes a changelog, and without an upstream one names
  the Debian changelog ``changelog.gz``, which lintian calls an error for
  a version with a revision.  giftwrap gives it both texts of
  :mod:`giftwrap.package.docfiles`, so the package has the same
  ``changelog.Debian.gz`` and ``changelog.gz`` as nfpm's (the DEP-5
  ``copyright`` is one of the generated files).
* rpm: fpm's spec has no ``%license``: the license files of the
  ``.dist-info`` directories are also installed under
  ``/usr/share/licenses/NAME/`` (nfpm-rpm marks them ``%license``).
* deb: fpm sets ``ZSTD_CLEVEL=-N`` for a level N, a *fast* (negative)
  zstd level (fpm issue #2127); level 0 gives ``-0``, zstd's default
  level, as nfpm uses.
* rpm: rpmbuild adds ``/usr/lib/.build-id`` links (which two versions
  installed side by side would both own), names the build host and takes
  the clock for the build time and file times; rpmbuild macros turn that
  off and use ``SOURCE_DATE_EPOCH``, as nfpm-rpm does.
* Both: without a homepage fpm writes ``http://example.com/no-uri-given``;
  the project's git URL stands in when it is an http(s) URL.

For rpm, fpm writes a spec file that rpmbuild reads: rpmbuild expands
``%`` macros in every value and script (``%(cmd)`` runs a shell), and a
line starting with ``%`` opens a spec section.  So ``%`` is doubled in all
text and a description or script line starting with ``%`` is refused.

The mapping from :class:`~giftwrap.package.description.Target` to fpm's options is
:meth:`FpmBuilder.argv`; a format adds its own options in
:meth:`FpmBuilder.format_options`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import ClassVar, Mapping

from giftwrap.api import Artifact, BuildContext, Builder, GeneratedFile, StagedTree, Target, Tool
from giftwrap import errors
from giftwrap.package import docfiles
from giftwrap.package import scripts
from giftwrap.trust import rpmsign
from giftwrap.builders.nfpm import RPM_GROUP, compression_option

LOG = logging.getLogger(__name__)

#: Where an rpm's license files go when its spec cannot mark them.
LICENSE_DIR = PurePosixPath('/usr/share/licenses')

FPM_HINT = ('gem install fpm  (needs Ruby and, for rpm, rpmbuild; a '
            '--user-install needs GEM_PATH set)')
# fpm's options for the maintainer scripts.
_SCRIPT_OPTION = {'preinst': '--before-install', 'postinst': '--after-install',
                  'prerm': '--before-remove', 'postrm': '--after-remove'}
_RELATION_OPTIONS = (('depends', '--depends'), ('conflicts', '--conflicts'),
                     ('provides', '--provides'), ('replaces', '--replaces'))
_ONE_LINE = ('name', 'maintainer', 'vendor', 'license', 'homepage', 'summary')
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
_CONTROL_MULTILINE = re.compile(r'[\x00-\x09\x0b-\x1f\x7f]')
_PASSED = ('PATH', 'GEM_HOME', 'GEM_PATH')
# The manifest key each Target field comes from, for error locations.
_MANIFEST_KEY = {'name': 'package_name', 'depends': 'system_dependencies',
                 'scripts': 'scripts'}
# rpmbuild's defaults that nfpm-rpm does not share: build-id links of every
# ELF file, the build machine's name, the clock as build time and the
# staged files' times (rpmbuild reads SOURCE_DATE_EPOCH from fpm's
# environment).  Older rpmbuilds ignore macros they do not know.
_RPMBUILD_DEFINES = ('_build_id_links none', '_buildhost giftwrap',
                     'use_source_date_epoch_as_buildtime 1',
                     'clamp_mtime_to_source_date_epoch 1')


def _control_characters(values, fields) -> tuple[str, str, str] | None:
    """(field, what, hint) of the first control character that would break
    a header line: ``fields`` are one line, ``description`` may have line
    breaks."""
    for field in fields:
        value = getattr(values, field)
        for item in value if isinstance(value, tuple) else (value,):
            if _CONTROL.search(item):
                return (field, f'contains a control character: {item!r}',
                        'use a single line of text')
    if _CONTROL_MULTILINE.search(values.description):
        return ('description', 'contains a control character',
                'use printable text and line breaks only')
    return None


def fpm_environment(home: Path, source_date_epoch: int) -> dict[str, str]:
    """fpm's whole environment: no ``FPMOPTS``, ``HOME`` at ``home``, and
    the build's time, which fpm and rpmbuild give every timestamp."""
    env = {k: os.environ[k] for k in _PASSED if k in os.environ}
    env.setdefault('PATH', os.defpath)
    env.update(HOME=str(home), LANG='C.UTF-8',
               SOURCE_DATE_EPOCH=str(source_date_epoch))
    return env


def build_time(context: BuildContext) -> int:
    """The build's ``SOURCE_DATE_EPOCH``: the context's, else the
    operator's, else the commit's (never the clock: rebuilds match)."""
    if context.source_date_epoch is not None:
        return context.source_date_epoch
    operator = os.environ.get('SOURCE_DATE_EPOCH', '')
    if operator.isdigit():
        return int(operator)
    return int(context.checkout.commit_date.timestamp())


def option(name: str, value: object) -> str:
    """``--name=value``: one argv word, whatever ``value`` starts with."""
    return f'{name}={value}'


class FpmBuilder(Builder):
    """Base of the fpm builders; a subclass names the package format."""

    #: fpm's ``--output-type`` and the :class:`Target` format.
    format: ClassVar[str] = ''
    #: giftwrap's compression name -> fpm's.
    compressions: ClassVar[Mapping[str, str]] = {}
    tools = (Tool('fpm', FPM_HINT),)

    def spell(self, target: Target) -> Target:
        """``target`` with its text made safe for this format's tools.

        :raises giftwrap.errors.BuildError: a value the format cannot hold.
        """
        problem = _control_characters(target, _ONE_LINE + (
            'depends', 'conflicts', 'provides', 'replaces'))
        if problem:
            self._refuse(*problem)
        return target

    @classmethod
    def check_project(cls, project) -> None:
        problem = _control_characters(project, _ONE_LINE[1:])
        if problem:
            field, what, hint = problem
            raise errors.ManifestError(
                f'{field} {what}', where=project.where_key(field), hint=hint)

    def _refuse(self, field: str, what: str, hint: str) -> None:
        raise errors.BuildError(
            f'the {field} of package {self.context.package.name} {what}',
            where=self.context.project_info.where_key(
                _MANIFEST_KEY.get(field, field)), hint=hint)

    def with_homepage(self, target: Target) -> Target:
        """``target``, with the project's git URL as homepage if it has
        none and that URL is a web address (fpm would write a placeholder
        of its own).  Credentials in the URL are left out."""
        if target.homepage:
            return target
        url = urllib.parse.urlsplit(self.context.project_info.giturl)
        if url.scheme not in ('http', 'https') or not url.hostname:
            return target
        host = url.netloc.rpartition('@')[2]
        return dataclasses.replace(target, homepage=urllib.parse.urlunsplit(
            (url.scheme, host, url.path, '', '')))

    def written_by_fpm(self, target: Target) -> frozenset:
        """Generated files fpm writes itself, from :meth:`format_options`."""
        return frozenset()

    def more_files(self, target: Target, tree: StagedTree, files: Path
                   ) -> dict:
        """Files only this format adds below ``files`` (which stands for
        ``/``): installed path -> written file."""
        return {}

    def format_options(self, target: Target, work: Path) -> list[str]:
        """Options only this format has (compression, summary...).

        :param work: where to write the files those options name.
        """
        return []

    def argv(self, target: Target, tree: StagedTree, files: Path | None,
             script_files: Mapping[str, Path], output: Path, work: Path
             ) -> list[str]:
        """The whole fpm command packaging ``tree`` as ``target``.

        :param files: the directory standing for ``/`` that holds the
            generated files, or ``None`` if there are none.
        :raises giftwrap.errors.BuildError: a staging path fpm would split.
        """
        version = target.version
        argv = [self.tool('fpm'), '--input-type=dir',
                option('--output-type', self.format),
                option('--name', target.name),
                option('--version', version.upstream),
                option('--iteration', version.release),
                option('--architecture', target.arch),
                option('--maintainer', target.maintainer),
                # Always given: fpm's defaults name the build host.
                option('--vendor', target.vendor),
                option('--description', target.full_description),
                option('--package', output),
                option('--workdir', work / 'tmp')]
        if version.epoch:
            argv.append(option('--epoch', version.epoch))
        if target.license:
            argv.append(option('--license', target.license))
        if target.homepage:
            argv.append(option('--url', target.homepage))
        for field, name in _RELATION_OPTIONS:
            argv += [option(name, v) for v in getattr(target, field)]
        argv += [option('--config-files', p) for p in target.config_files]
        argv += [option(_SCRIPT_OPTION[name], path)
                 for name, path in sorted(script_files.items())]
        argv += self.format_options(target, work)
        return argv + ['--', *inputs(tree, files)]

    def build(self, tree: StagedTree) -> Artifact:
        """Stage the generated files and scripts, run fpm, publish.

        :raises giftwrap.errors.BuildError: bad metadata or fpm failed.
        """
        work = self.context.work_dir.resolve()
        for sub in ('tmp', 'home', 'run'):
            (work / sub).mkdir(parents=True, exist_ok=True)
        target = self.spell(self.with_homepage(
            self.context.package.target(self.format)))
        staged = scripts.write_files(target, work / 'files',
                                     skip=self.written_by_fpm(target))
        staged.update(self.more_files(target, tree, work / 'files'))
        script_files = scripts.write_scripts(target, work / 'scripts')
        output = work / f'fpm-output.{self.format}'
        output.unlink(missing_ok=True)
        argv = self.argv(target, tree, work / 'files' if staged else None,
                         script_files, output, work)
        # cwd: an empty directory, so no ./.fpm is read.
        self.context.runner.run(
            argv, cwd=work / 'run', what=f'fpm ({self.format})',
            env=fpm_environment(work / 'home', build_time(self.context)))
        if not output.is_file():
            raise errors.BuildError(f'fpm wrote no package at {output}',
                                    hint='see the fpm output in the log')
        self.before_publish(output)
        path = self.publish(output, target.filename)
        LOG.info('built %s', path)
        return Artifact(name=path.name, path=path)


def inputs(tree: StagedTree, files: Path | None) -> list[str]:
    """``src=dst`` mappings: the virtualenv, config files outside it and
    the generated files.

    A source ending in ``/`` is copied *into* the destination (as rsync
    does), so ``venv/=/opt/x`` makes ``/opt/x`` the virtualenv.
    """
    mappings = [(f'{tree.venv}/', str(tree.install_path))]
    for dst in sorted(tree.config_files):
        if tree.install_path not in dst.parents:
            mappings.append((str(tree.root / dst.relative_to('/')), str(dst)))
    if files is not None:
        mappings.append((f'{files}/', '/'))
    for src, _ in mappings:
        if '=' in src:
            raise errors.BuildError(
                f'fpm cannot package {src}: the path contains "="',
                hint='build in a work directory whose path has no "="')
    return [f'{src}={dst}' for src, dst in mappings]


def changelogs(target: Target) -> dict[str, GeneratedFile]:
    """The deb's Debian and upstream changelogs giftwrap generated
    (:mod:`giftwrap.package.docfiles`), by name: fpm gzips and installs them."""
    return {f.dst.name: f for f in target.files
            if f.dst.parent == docfiles.DOC_DIR / target.name
            and f.dst.name in (docfiles.DEBIAN_CHANGELOG,
                               docfiles.UPSTREAM_CHANGELOG)}


class FpmDeb(FpmBuilder):
    """A Debian package (.deb) of the virtualenv, built with fpm."""

    def written_by_fpm(self, target: Target) -> frozenset:
        # fpm always writes changelog.Debian.gz and changelog.gz itself:
        # it is given giftwrap's texts, so both builders ship the same.
        return frozenset(f.dst for f in changelogs(target).values())

    format = 'deb'
    package_format = 'deb'
    # zstd by default, as nfpm-deb (see there); xz or gzip for old dpkg.
    compressions = {'zstd': 'zst', 'xz': 'xz', 'gzip': 'gz', 'none': 'none'}
    options = {'compression': compression_option(tuple(compressions))}

    def format_options(self, target: Target, work: Path) -> list[str]:
        compression = self.compressions[self.option('compression')]
        found = changelogs(target)
        (work / 'changelog').mkdir(exist_ok=True)
        for name, generated in (('Debian', docfiles.DEBIAN_CHANGELOG),
                                ('upstream', docfiles.UPSTREAM_CHANGELOG)):
            (work / 'changelog' / name).write_text(
                found[generated].text if generated in found else '',
                encoding='utf-8')
        return ['--category=misc',
                # The conffiles are exactly target.config_files.
                '--deb-no-default-config-files',
                option('--deb-compression', compression),
                # fpm spells level N "ZSTD_CLEVEL=-N" (a fast level); "-0"
                # is zstd's default level, as nfpm's.
                *(['--deb-compression-level=0'] if compression == 'zst'
                  else []),
                # Both, or fpm names the Debian one changelog.gz.
                option('--deb-changelog', work / 'changelog/Debian'),
                option('--deb-upstream-changelog',
                       work / 'changelog/upstream')]


class FpmRpm(rpmsign.Signed, FpmBuilder):
    """An RPM package (.rpm) of the virtualenv, built with fpm."""

    format = 'rpm'
    package_format = 'rpm'
    compressions = {'xz': 'xz', 'gzip': 'gzip', 'bzip2': 'bzip2',
                    'none': 'none'}
    options = {'compression': compression_option(tuple(compressions)),
               **rpmsign.OPTIONS}
    tools = FpmBuilder.tools + (
        Tool('rpmbuild', 'apt-get install rpm  (or dnf install rpm-build)'),)

    def more_files(self, target: Target, tree: StagedTree, files: Path
                   ) -> dict:
        """The license files, in /usr/share/licenses/NAME: fpm's spec has
        no ``%license``, so they are installed there as plain files."""
        directory = LICENSE_DIR / target.name
        written = {}
        for installed in docfiles.license_files(tree):
            relative = installed.relative_to(tree.install_path)
            # site-packages/NAME.dist-info/[licenses/]FILE -> NAME.dist-info/FILE
            parts = relative.parts[relative.parts.index('site-packages') + 1:]
            dst = directory / '/'.join(parts)
            path = files / dst.relative_to('/')
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tree.venv / relative, path)
            path.chmod(0o644)
            written[dst] = path
        return written

    def spell(self, target: Target) -> Target:
        """Double every ``%`` (rpmbuild expands macros everywhere).

        :raises giftwrap.errors.BuildError: a description or script line
            starting with ``%`` (it would open a spec section).
        """
        target = super().spell(target)
        for name, text in [('description', target.full_description),
                           *target.scripts.items()]:
            if any(line.startswith('%') for line in text.splitlines()):
                field = 'description' if name == 'description' else 'scripts'
                self._refuse(field, f'({name}) has a line starting with "%"',
                             'rpmbuild would read it as a spec section; '
                             'indent the line')
        return dataclasses.replace(
            target,
            **{f: _percent(getattr(target, f)) for f in _ONE_LINE + (
                'description', 'depends', 'conflicts', 'provides',
                'replaces')},
            scripts={n: _percent(t) for n, t in target.scripts.items()})

    def format_options(self, target: Target, work: Path) -> list[str]:
        return [option('--category', RPM_GROUP),
                option('--rpm-summary', target.summary),
                '--rpm-os=linux', '--rpm-digest=sha256',
                option('--rpm-compression', self.option('compression')),
                # Own every directory of the virtualenv, as nfpm-rpm does.
                option('--directories', self.context.package.install_path),
                *(option('--rpm-rpmbuild-define', d)
                  for d in _RPMBUILD_DEFINES)]


def _percent(value):
    if isinstance(value, tuple):
        return tuple(v.replace('%', '%%') for v in value)
    return value.replace('%', '%%')

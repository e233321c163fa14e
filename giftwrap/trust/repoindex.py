"""The indexes of a repository's pool, written by the distributions' tools.

apt's ``Packages`` and ``Release`` come from ``apt-ftparchive`` (apt-utils)
with by-hash indexes and SHA256/SHA512 sums; yum's ``repodata`` from
``createrepo_c --update``, which reuses the metadata of unchanged rpms.
Both see every version in the pool, so apt and dnf can install any of
them (``apt-get install pkg=1.0-1``).  Signing is done here too: apt trusts
``InRelease``/``Release.gpg``, dnf ``repomd.xml.asc``.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Iterable

from giftwrap import errors
from giftwrap.trust import signing
from giftwrap.util.process import Runner, base_environment

LOG = logging.getLogger(__name__)

_PRIMARY_NS = {'c': 'http://linux.duke.edu/metadata/common'}
_RELEASE_FIELD = re.compile(r'^[A-Za-z0-9-]+:( .*)?$')
_RELEASE_SUM = re.compile(r'^ ([0-9a-f]{64}|[0-9a-f]{128}) +[0-9]+ \S+$')
_CONFIG = '''Dir {{ ArchiveDir "."; }};
Default {{ Packages::Compress ". gzip xz"; }};
TreeDefault {{ Directory "pool/$(SECTION)"; Contents " "; }};
Tree "dists/{suite}" {{ Sections "{component}"; Architectures "{arches}"; }};
'''
# Only these sums: apt has not trusted MD5 or SHA1 for years.
_SUMS = ('-o', 'APT::FTPArchive::MD5=false', '-o', 'APT::FTPArchive::SHA1=false',
         '-o', 'APT::FTPArchive::SHA256=true', '-o', 'APT::FTPArchive::SHA512=true',
         '-o', 'APT::FTPArchive::DoByHash=true')


def apt(stage: Path, arches: Iterable[str], options, runner: Runner,
        previous: Path | None = None) -> None:
    """Index the debs of ``stage/pool/<component>`` for ``arches``.

    :param options: the :class:`giftwrap.trust.repository.Options`.
    :param previous: the repository being replaced: its current by-hash
        indexes stay, so an apt that read its InRelease moments before the
        swap still finds what it names.
    """
    arches = sorted(arches)
    suite = stage / 'dists' / options.suite
    for arch in arches:
        (suite / options.component / f'binary-{arch}').mkdir(parents=True)
    config = stage / '.apt-ftparchive.conf'
    config.write_text(_CONFIG.format(suite=options.suite,
                                     component=options.component,
                                     arches=' '.join(arches)))
    try:
        _ftparchive(stage, runner, *_SUMS, 'generate', '--', config.name)
    finally:
        config.unlink()
    old = _carry_by_hash(previous, stage, options.suite)
    release = _ftparchive(stage, runner, *_SUMS, *_release_options(
        options, arches), 'release', '--', f'dists/{options.suite}')
    (suite / 'Release').write_text(release)
    _drop_stale_by_hash(suite, release + old)
    if options.key:
        signing.detach_sign(suite / 'Release', suite / 'Release.gpg',
                            options.key, runner,
                            gnupg_home=options.gnupg_home)
        signing.clearsign(suite / 'Release', suite / 'InRelease',
                          options.key, runner, gnupg_home=options.gnupg_home)
    else:
        LOG.warning('the apt repository is not signed: apt accepts it only '
                    'with [trusted=yes]')


def _release_options(options, arches: list[str]) -> list[str]:
    fields = {'Origin': options.origin, 'Label': options.label,
              'Suite': options.suite, 'Codename': options.suite,
              'Architectures': ' '.join(arches),
              'Components': options.component,
              'Description': 'packages built by giftwrap'}
    argv = []
    for name, value in fields.items():
        argv += ['-o', f'APT::FTPArchive::Release::{name}={value}']
    return argv


def _ftparchive(stage: Path, runner: Runner, *args: str) -> str:
    """apt-ftparchive's output; it exits 0 after some errors ("E: ..."),
    and its messages share the stream with a Release, so both are read."""
    env = base_environment()
    if 'SOURCE_DATE_EPOCH' in os.environ:  # the Release's Date
        env['SOURCE_DATE_EPOCH'] = os.environ['SOURCE_DATE_EPOCH']
    output = runner.run([signing.tool('apt-ftparchive'), '-qq', *args],
                        cwd=stage, env=env, what='apt-ftparchive').output
    bad = [line for line in output.splitlines()
           if line.startswith(('E:', 'W:'))]
    if bad:
        raise errors.BuildError('apt-ftparchive could not index the pool',
                                where=f'apt-ftparchive {args[-3]}',
                                output='\n'.join(bad))
    if 'release' in args and not all(
            _RELEASE_FIELD.match(line) or _RELEASE_SUM.match(line)
            for line in output.splitlines()):
        raise errors.BuildError('apt-ftparchive wrote an unexpected Release',
                                where='apt-ftparchive release', output=output)
    return output


def _carry_by_hash(previous: Path | None, stage: Path, suite: str) -> str:
    """Link the previous generation's by-hash files into ``stage``;
    returns the previous Release (which names them)."""
    old = previous / 'dists' / suite if previous else None
    if old is None or not (old / 'Release').is_file():
        return ''
    for path in old.rglob('by-hash/*/*'):
        target = stage / 'dists' / suite / path.relative_to(old)
        if path.is_file() and target.parent.parent.parent.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                link_or_copy(path, target)
    return (old / 'Release').read_text()


def _drop_stale_by_hash(suite: Path, releases: str) -> None:
    """Keep the by-hash files the new or the previous Release names."""
    named = {line.split()[0] for line in releases.splitlines()
             if _RELEASE_SUM.match(line)}
    for path in list(suite.rglob('by-hash/*/*')):
        if path.name not in named:
            path.unlink()


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link (pool files never change in place), else a copy that
    keeps the times createrepo_c --update compares."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def yum(stage: Path, options, runner: Runner,
        previous: Path | None = None) -> None:
    """``repodata`` of the rpms in the pool, reusing the previous
    repository's metadata for the rpms it already had."""
    argv = [signing.tool('createrepo_c'), '--quiet']
    if previous is not None and (previous / 'repodata' / 'repomd.xml').is_file():
        shutil.copytree(previous / 'repodata', stage / 'repodata',
                        copy_function=link_or_copy)
        argv.append('--update')
    runner.run([*argv, '--', str(stage)], what='createrepo_c')
    repomd = stage / 'repodata' / 'repomd.xml'
    if options.key:
        signing.detach_sign(repomd, repomd.with_name('repomd.xml.asc'),
                            options.key, runner,
                            gnupg_home=options.gnupg_home)


def primary(repo: Path) -> list[tuple[str, str, str, str]]:
    """(name, [epoch:]version-release, arch, location) of each package that
    createrepo_c listed (its own output, so trusted XML)."""
    found = next((repo / 'repodata').glob('*primary.xml.gz'))
    with gzip.open(found) as stream:
        root = ElementTree.parse(stream).getroot()
    rows = []
    for package in root.iterfind('c:package', _PRIMARY_NS):
        version = package.find('c:version', _PRIMARY_NS).attrib
        epoch = '' if version.get('epoch', '0') == '0' else \
            f'{version["epoch"]}:'
        rows.append((package.findtext('c:name', '', _PRIMARY_NS),
                     f'{epoch}{version.get("ver")}-{version.get("rel")}',
                     package.findtext('c:arch', '', _PRIMARY_NS),
                     package.find('c:location', _PRIMARY_NS).get('href', '')))
    return sorted(rows)

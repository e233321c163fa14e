"""apt and yum repositories of the artifacts in an output directory.

apt trusts repositories, not single .deb files: what it verifies is the
signed ``Release`` (``InRelease``, ``Release.gpg``) and, through its
hashes, every ``Packages`` index and every package.  yum/dnf verify the
signature of ``repodata/repomd.xml`` (``repo_gpgcheck``) and, through it,
the package list.  :func:`publish` builds both from the ``.deb`` and
``.rpm`` files of an output directory, in one directory::

    pool/<component>/*.deb *.rpm
    dists/<suite>/{Release,Release.gpg,InRelease}
    dists/<suite>/<component>/binary-<arch>/Packages{,.gz}
    repodata/repomd.xml{,.asc}
    giftwrap-archive-keyring.gpg (.asc)   the public key, when signed

The repository is built beside its final place and swapped in whole (a
mount point, which cannot be renamed, entry by entry); the output directory
is only read.  The apt indexes are written here, in
Python, from ``dpkg-deb -f``; the yum metadata by ``createrepo_c``.
"""

from __future__ import annotations

import dataclasses
import email.utils
import errno
import gzip
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Iterable, Sequence

from giftwrap import errors, signing
from giftwrap.process import Runner

LOG = logging.getLogger(__name__)

#: The file that marks a directory as a repository giftwrap may replace.
MARKER = '.giftwrap-repository'
KEYRING = 'giftwrap-archive-keyring'
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]*$')
_LINE = re.compile(r'^[^\x00-\x1f\x7f]+$')
_PRIMARY_NS = {'c': 'http://linux.duke.edu/metadata/common'}


@dataclasses.dataclass(frozen=True)
class Options:
    """How the repository is described and signed.

    :ivar architectures: the apt architectures to index; default: the
        host's plus those of the architecture-specific packages.
    :ivar key: the GPG key signing the metadata; ``None``: unsigned.
    """

    suite: str = 'stable'
    component: str = 'main'
    origin: str = 'giftwrap'
    label: str = 'giftwrap'
    architectures: tuple[str, ...] = ()
    key: str | None = None
    gnupg_home: Path | None = None


@dataclasses.dataclass(frozen=True)
class Entry:
    """One package in the repository: a row of ``giftwrap publish``."""

    format: str
    package: str
    version: str
    arch: str
    path: str


def publish(output_dir: Path, repo_dir: Path, options: Options,
            runner: Runner) -> list[Entry]:
    """Build the repository of ``output_dir``'s packages at ``repo_dir``.

    :param output_dir: where the artifacts are (only read).
    :param repo_dir: the repository; replaced whole if it exists.
    :returns: the packages it holds.
    :raises giftwrap.errors.BuildError: bad options, no packages, a
        directory giftwrap must not replace, or a tool failed.
    :raises giftwrap.errors.MissingToolError: a tool is not installed.
    """
    output_dir, repo_dir = Path(output_dir).resolve(), Path(repo_dir).resolve()
    _check_options(options)
    _check_places(output_dir, repo_dir)
    debs, rpms = _artifacts(output_dir)
    if options.key:
        signing.check_secret_key(options.key, runner, options.gnupg_home)
    repo_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=repo_dir.parent,
                                  prefix=f'.{repo_dir.name}.new-'))
    try:
        os.chmod(stage, 0o755)  # served to apt's _apt user and web servers
        entries = _fill(stage, debs, rpms, options, runner)
        _swap(stage, repo_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    LOG.info('published %d package(s) to %s', len(entries), repo_dir)
    return entries


def _fill(stage: Path, debs: list[Path], rpms: list[Path], options: Options,
          runner: Runner) -> list[Entry]:
    pool = stage / 'pool' / options.component
    pool.mkdir(parents=True)
    for artifact in (*debs, *rpms):
        shutil.copyfile(artifact, pool / artifact.name)
        os.chmod(pool / artifact.name, 0o644)
    entries = []
    if debs:
        entries += _apt(stage, [pool / d.name for d in debs], options, runner)
    if rpms:
        entries += _yum(stage, options, runner)
    if options.key:
        for armor, suffix in ((False, '.gpg'), (True, '.asc')):
            signing.export_public_key(options.key, stage / (KEYRING + suffix),
                                      runner, gnupg_home=options.gnupg_home,
                                      armor=armor)
    (stage / MARKER).write_text('written by giftwrap publish; replaced '
                                'whole by the next publish\n')
    return entries


def _check_options(options: Options) -> None:
    for what, value in (('suite', options.suite),
                        ('component', options.component),
                        *(('architecture', a) for a in options.architectures)):
        if not _NAME.match(value):
            raise errors.BuildError(
                f'{what} {value!r} is not a plain name', where=f'--{what}',
                hint='letters, digits and ._+- (not starting with one of '
                     'the punctuation marks)')
    for what, value in (('origin', options.origin),
                        ('label', options.label)):
        if not _LINE.match(value):
            raise errors.BuildError(f'{what} {value!r} is not one line of '
                                    'text', where=f'--{what}')


def _check_places(output_dir: Path, repo_dir: Path) -> None:
    if not output_dir.is_dir():
        raise errors.BuildError(f'{output_dir} is not a directory',
                                where='OUTPUT_DIR',
                                hint='give the output directory of a build')
    if repo_dir == output_dir or output_dir in repo_dir.parents or \
            repo_dir in output_dir.parents:
        raise errors.BuildError(
            f'the repository {repo_dir} and the output directory '
            f'{output_dir} overlap', where='--repo',
            hint='the repository is replaced whole: put it elsewhere')
    if repo_dir.exists() and (not repo_dir.is_dir() or (
            any(repo_dir.iterdir()) and not (repo_dir / MARKER).exists())):
        raise errors.BuildError(
            f'{repo_dir} exists and is not a repository giftwrap wrote',
            where='--repo', hint='name a new or empty directory: publish '
                                 'replaces the repository whole')


def _artifacts(output_dir: Path) -> tuple[list[Path], list[Path]]:
    def found(suffix: str) -> list[Path]:
        return sorted(p for p in output_dir.glob(f'*{suffix}')
                      if p.is_file() and not p.name.startswith('.'))

    debs, rpms = found('.deb'), found('.rpm')
    if not debs and not rpms:
        raise errors.BuildError(f'no .deb or .rpm files in {output_dir}',
                                where='OUTPUT_DIR',
                                hint='build packages there first')
    return debs, rpms


def _swap(stage: Path, repo_dir: Path) -> None:
    """Put ``stage`` in ``repo_dir``'s place: readers see old or new."""
    if not repo_dir.exists():
        os.rename(stage, repo_dir)
        return
    old = repo_dir.parent / f'.{repo_dir.name}.old-{os.getpid()}'
    try:
        os.rename(repo_dir, old)
    except OSError as exc:
        # A mount point (a container's bind-mounted --repo) cannot be
        # renamed (EBUSY); its content can.
        if exc.errno not in (errno.EBUSY, errno.EXDEV):
            raise
        _swap_content(stage, repo_dir)
        return
    try:
        os.rename(stage, repo_dir)
    except OSError:
        os.rename(old, repo_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _swap_content(stage: Path, repo_dir: Path) -> None:
    """Replace ``repo_dir``'s entries by ``stage``'s, one rename each.

    ``stage`` may be on another mount, so it is copied into ``repo_dir``
    first.  Each entry is swapped on its own, ``pool`` before the indexes
    that name its files: a reader sees each entry old or new.
    """
    new = Path(tempfile.mkdtemp(dir=repo_dir, prefix='.giftwrap-new-'))
    old = Path(tempfile.mkdtemp(dir=repo_dir, prefix='.giftwrap-old-'))
    try:
        shutil.copytree(stage, new, symlinks=True, dirs_exist_ok=True)
        entries = sorted(new.iterdir(),
                         key=lambda e: (e.name != 'pool', e.name))
        for entry in entries:
            if os.path.lexists(repo_dir / entry.name):
                os.rename(repo_dir / entry.name, old / entry.name)
            os.rename(entry, repo_dir / entry.name)
        kept = {e.name for e in entries} | {new.name, old.name}
        for entry in repo_dir.iterdir():
            if entry.name not in kept:  # what the new repository lacks
                os.rename(entry, old / entry.name)
    finally:
        shutil.rmtree(new, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


# -- apt ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Deb:
    package: str
    version: str
    arch: str
    stanza: str
    path: str


def _apt(stage: Path, debs: Sequence[Path], options: Options,
         runner: Runner) -> list[Entry]:
    read = [_read_deb(deb, stage, runner) for deb in debs]
    _refuse_duplicates(read)
    arches = sorted(set(options.architectures or (_host_arch(runner),)) |
                    {d.arch for d in read if d.arch != 'all'})
    suite = stage / 'dists' / options.suite
    for arch in arches:
        index = suite / options.component / f'binary-{arch}'
        index.mkdir(parents=True)
        text = '\n'.join(d.stanza for d in sorted(
            read, key=lambda d: (d.package, d.version, d.arch))
            if d.arch in (arch, 'all'))
        (index / 'Packages').write_text(text)
        with open(index / 'Packages.gz', 'wb') as raw, gzip.GzipFile(
                filename='', mode='wb', fileobj=raw, mtime=0) as packed:
            packed.write(text.encode())
    release = suite / 'Release'
    release.write_text(_release(suite, arches, options))
    if options.key:
        signing.detach_sign(release, suite / 'Release.gpg', options.key,
                            runner, gnupg_home=options.gnupg_home)
        signing.clearsign(release, suite / 'InRelease', options.key, runner,
                          gnupg_home=options.gnupg_home)
    else:
        LOG.warning('the apt repository is not signed: apt accepts it only '
                    'with [trusted=yes]')
    return [Entry('deb', d.package, d.version, d.arch, d.path) for d in read]


def _read_deb(deb: Path, stage: Path, runner: Runner) -> _Deb:
    output = runner.run([signing.tool('dpkg-deb'), '-f', '--', str(deb)],
                        what='dpkg-deb -f').output
    fields: dict[str, str] = {}
    lines: list[str] = []
    keep = False
    for line in output.splitlines():
        if line[:1] in (' ', '\t'):  # a continuation of the last field
            if keep:
                lines.append(line)
            continue
        name, _, value = line.partition(':')
        # An empty field (nfpm's "Section:") is left out, with its lines.
        keep = bool(value.strip())
        if keep:
            fields[name] = value.strip()
            lines.append(line)
    if not all(fields.get(k) for k in ('Package', 'Version', 'Architecture')):
        raise errors.BuildError(f'{deb.name} has no Package, Version or '
                                'Architecture field', where=str(deb))
    data = deb.read_bytes()
    path = deb.relative_to(stage).as_posix()
    lines += [f'Filename: {path}', f'Size: {len(data)}',
              f'MD5sum: {hashlib.md5(data).hexdigest()}',
              f'SHA256: {hashlib.sha256(data).hexdigest()}']
    return _Deb(fields['Package'], fields['Version'], fields['Architecture'],
                '\n'.join(lines) + '\n', path)


def _refuse_duplicates(debs: Iterable[_Deb]) -> None:
    seen: dict[tuple[str, str, str], str] = {}
    for deb in debs:
        key = (deb.package, deb.version, deb.arch)
        if key in seen:
            raise errors.BuildError(
                f'{seen[key]} and {deb.path} are both {"_".join(key)}',
                where='OUTPUT_DIR',
                hint='an apt repository holds one file per package, '
                     'version and architecture: remove one')
        seen[key] = deb.path


def _host_arch(runner: Runner) -> str:
    return runner.run([signing.tool('dpkg'), '--print-architecture'],
                      what='dpkg --print-architecture').output.strip()


def _release(suite: Path, arches: list[str], options: Options) -> str:
    epoch = float(os.environ.get('SOURCE_DATE_EPOCH') or time.time())
    date = email.utils.formatdate(epoch, usegmt=True).replace('GMT', 'UTC')
    lines = [f'Origin: {options.origin}', f'Label: {options.label}',
             f'Suite: {options.suite}', f'Codename: {options.suite}',
             f'Date: {date}', f'Architectures: {" ".join(arches)}',
             f'Components: {options.component}',
             'Description: packages built by giftwrap']
    for field, algorithm in (('MD5Sum', 'md5'), ('SHA256', 'sha256')):
        lines.append(f'{field}:')
        for path in sorted(p for p in suite.rglob('*') if p.is_file()):
            data = path.read_bytes()
            digest = hashlib.new(algorithm, data).hexdigest()
            lines.append(f' {digest} {len(data):>8} '
                         f'{path.relative_to(suite).as_posix()}')
    return '\n'.join(lines) + '\n'


# -- yum ---------------------------------------------------------------------

def _yum(stage: Path, options: Options, runner: Runner) -> list[Entry]:
    runner.run([signing.tool('createrepo_c'), '--', str(stage)],
               what='createrepo_c')
    repomd = stage / 'repodata' / 'repomd.xml'
    if options.key:
        signing.detach_sign(repomd, repomd.with_name('repomd.xml.asc'),
                            options.key, runner,
                            gnupg_home=options.gnupg_home)
    return _primary(stage)


def _primary(stage: Path) -> list[Entry]:
    """The packages createrepo_c listed (its own output, so trusted XML)."""
    primary = next((stage / 'repodata').glob('*primary.xml.gz'))
    with gzip.open(primary) as stream:
        root = ElementTree.parse(stream).getroot()
    entries = []
    for package in root.iterfind('c:package', _PRIMARY_NS):
        version = package.find('c:version', _PRIMARY_NS).attrib
        epoch = '' if version.get('epoch', '0') == '0' else \
            f'{version["epoch"]}:'
        entries.append(Entry(
            'rpm', package.findtext('c:name', '', _PRIMARY_NS),
            f'{epoch}{version.get("ver")}-{version.get("rel")}',
            package.findtext('c:arch', '', _PRIMARY_NS),
            package.find('c:location', _PRIMARY_NS).get('href', '')))
    return sorted(entries, key=lambda e: e.path)

"""apt and yum repositories that keep the versions published before.

apt trusts repositories, not single .deb files: what it verifies is the
signed ``Release`` (``InRelease``, ``Release.gpg``) and, through its
hashes, every ``Packages`` index and every package.  yum/dnf verify the
signature of ``repodata/repomd.xml`` (``repo_gpgcheck``) and, through it,
the package list.  :func:`publish` adds the ``.deb`` and ``.rpm`` files of
an output directory to a repository, in one directory::

    pool/<component>/<name>_<version>_<arch>.deb <name>-<v>-<r>.<arch>.rpm
    dists/<suite>/{Release,Release.gpg,InRelease}
    dists/<suite>/<component>/binary-<arch>/Packages{,.gz,.xz} by-hash/
    repodata/repomd.xml{,.asc}
    giftwrap-archive-keyring.gpg (.asc)   the public key, when signed

Every version published stays installable (a rollback is ``apt-get install
pkg=old-version``) until ``keep`` prunes it; a published file is never
replaced by other bytes.  The new repository is built beside the old one
(the pool hard-linked) and swapped in whole; the output directory is only
read (a mount point, which cannot be renamed, is swapped entry by entry).
The indexes are the distributions' tools' (:mod:`giftwrap.trust.repoindex`).
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from giftwrap import errors
from giftwrap.trust import repoindex, signing, vercmp
from giftwrap.util import atomic
from giftwrap.util.hashing import sha256_file
from giftwrap.util.process import Runner

LOG = logging.getLogger(__name__)

#: The file that marks a directory as a repository giftwrap may replace.
MARKER = '.giftwrap-repository'
KEYRING = 'giftwrap-archive-keyring'
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]*\Z')
_LINE = re.compile(r'^[^\x00-\x1f\x7f]+\Z')
# A package's name, version or architecture as a pool file name part.
_PART = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+~^:-]*\Z')
ADDED, PRESENT, PRUNED = 'added', 'present', 'pruned'


@dataclasses.dataclass(frozen=True)
class Options:
    """How the repository is described, signed and pruned.

    :ivar architectures: the apt architectures to index; default: the
        host's plus those of the architecture-specific packages.
    :ivar key: the GPG key signing the metadata; ``None``: unsigned.
    :ivar keep: keep this many newest versions of each package (and
        architecture); ``None``: every version.
    """

    suite: str = 'stable'
    component: str = 'main'
    origin: str = 'giftwrap'
    label: str = 'giftwrap'
    architectures: tuple[str, ...] = ()
    key: str | None = None
    gnupg_home: Path | None = None
    keep: int | None = None


@dataclasses.dataclass(frozen=True)
class Entry:
    """One package of the repository: a row of ``giftwrap publish``.

    :ivar status: ``added`` by this publish, already ``present``, or
        ``pruned`` (no longer in the repository).
    """

    format: str
    package: str
    version: str
    arch: str
    path: str
    status: str = PRESENT


def publish(output_dir: Path, repo_dir: Path, options: Options,
            runner: Runner) -> list[Entry]:
    """Add ``output_dir``'s packages to the repository at ``repo_dir``.

    :param output_dir: where the artifacts are (only read).
    :param repo_dir: the repository; made if missing, else replaced whole
        by one holding its packages and the new ones.
    :returns: the packages it holds, and those pruned.
    :raises giftwrap.errors.BuildError: bad options, no packages, a
        directory giftwrap must not replace, a package that would replace
        a published one with other bytes, or a tool failed.
    :raises giftwrap.errors.MissingToolError: a tool is not installed.
    """
    output_dir, repo_dir = Path(output_dir).resolve(), Path(repo_dir).resolve()
    _check_options(options)
    _check_places(output_dir, repo_dir)
    artifacts = _artifacts(output_dir)
    if options.key:
        signing.check_secret_key(options.key, runner, options.gnupg_home)
    # One publish at a time per place: the second adds to the first's.
    with atomic.locked_dir(repo_dir.parent):
        previous = repo_dir if (repo_dir / MARKER).is_file() else None
        stage = Path(tempfile.mkdtemp(dir=repo_dir.parent,
                                      prefix=f'.{repo_dir.name}.new-'))
        try:
            os.chmod(stage, 0o755)  # served to apt's _apt user and web servers
            entries = _fill(stage, artifacts, previous, options, runner)
            _swap(stage, repo_dir)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    LOG.info('published %d package(s) to %s',
             sum(e.status == ADDED for e in entries), repo_dir)
    return entries


def _fill(stage: Path, artifacts: list[Path], previous: Path | None,
          options: Options, runner: Runner) -> list[Entry]:
    pool = stage / 'pool' / options.component
    pool.mkdir(parents=True)
    held: dict[str, Entry] = {}
    if previous is not None:
        for old in sorted((previous / 'pool').glob('*/*')):
            if old.suffix in ('.deb', '.rpm') and old.is_file():
                _add(old, pool, held, PRESENT, runner)
    for artifact in artifacts:
        _add(artifact, pool, held, ADDED, runner)
    pruned = _prune(held, options.keep, stage, runner)
    kept = sorted(held.values(), key=lambda e: e.path)
    if any(e.format == 'deb' for e in kept):
        arches = set(options.architectures or (_host_arch(runner),)) | {
            e.arch for e in kept if e.format == 'deb' and e.arch != 'all'}
        repoindex.apt(stage, arches, options, runner, previous)
    if any(e.format == 'rpm' for e in kept):
        repoindex.yum(stage, options, runner, previous)
    if options.key:
        for armor, suffix in ((False, '.gpg'), (True, '.asc')):
            signing.export_public_key(options.key, stage / (KEYRING + suffix),
                                      runner, gnupg_home=options.gnupg_home,
                                      armor=armor)
    (stage / MARKER).write_text('written by giftwrap publish; the next '
                                'publish adds to it\n')
    return kept + pruned


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
    if options.keep is not None and options.keep < 1:
        raise errors.BuildError(f'--keep {options.keep} would empty the '
                                'repository', where='--keep',
                                hint='keep at least 1 version per package')


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
            hint='the repository is rebuilt beside and swapped in whole: '
                 'put it elsewhere')
    if repo_dir.exists() and (not repo_dir.is_dir() or (
            any(repo_dir.iterdir()) and not (repo_dir / MARKER).exists())):
        raise errors.BuildError(
            f'{repo_dir} exists and is not a repository giftwrap wrote',
            where='--repo', hint='name a new or empty directory, or a '
                                 'repository giftwrap publish made')


def _artifacts(output_dir: Path) -> list[Path]:
    found = sorted(p for p in output_dir.iterdir()
                   if p.suffix in ('.deb', '.rpm') and p.is_file() and
                   not p.name.startswith('.'))
    if not found:
        raise errors.BuildError(f'no .deb or .rpm files in {output_dir}',
                                where='OUTPUT_DIR',
                                hint='build packages there first')
    return found


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


# -- the pool ----------------------------------------------------------------

def _add(source: Path, pool: Path, held: dict[str, Entry], status: str,
         runner: Runner) -> None:
    """Put ``source`` in the pool under its canonical name, unless a file
    of that name is there: the same bytes are the same package, other
    bytes are refused (apt and dnf cache packages by name and version)."""
    entry = _read(source, pool, runner)
    target = pool / Path(entry.path).name
    if target.exists():
        if sha256_file(target) != sha256_file(source):
            raise errors.BuildError(
                f'{entry.package} {entry.version} ({entry.arch}) is already '
                f'published as {entry.path}, with other contents than '
                f'{source}', where=str(source),
                hint='a published version is never replaced: build it with '
                     'a new version (or release) and publish that')
        return
    repoindex.link_or_copy(source, target)
    os.chmod(target, 0o644)
    held[target.name] = dataclasses.replace(entry, status=status)


def _read(package: Path, pool: Path, runner: Runner) -> Entry:
    """The name, version and architecture of a .deb or .rpm, and its
    canonical place in ``pool`` (relative to the repository)."""
    if package.suffix == '.deb':
        argv = [signing.tool('dpkg-deb'), '--show', '--showformat',
                '${Package}\t${Version}\t${Architecture}\n', '--',
                str(package)]
    else:
        argv = [signing.tool('rpm'), '-qp', '--nosignature', '--nodigest',
                '--queryformat', '%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t'
                '%{RELEASE}\t%{ARCH}\n', '--', str(package)]
    fields = runner.run(argv, what=f'read {package.suffix}').output \
        .strip().split('\t')
    if len(fields) not in (3, 5) or not all(_PART.match(f) for f in fields):
        raise errors.BuildError(f'{package.name} has no usable name, version '
                                'or architecture', where=str(package),
                                output='\t'.join(fields))
    where = pool.relative_to(pool.parent.parent).as_posix()
    if len(fields) == 3:
        name, version, arch = fields
        upstream = version.split(':', 1)[-1]  # pool names leave out epochs
        return Entry('deb', name, version, arch,
                     f'{where}/{name}_{upstream}_{arch}.deb')
    name, epoch, ver, rel, arch = fields
    evr = f'{ver}-{rel}' if epoch == '0' else f'{epoch}:{ver}-{rel}'
    return Entry('rpm', name, evr, arch,
                 f'{where}/{name}-{ver}-{rel}.{arch}.rpm')


def _prune(held: dict[str, Entry], keep: int | None, stage: Path,
           runner: Runner) -> list[Entry]:
    """Remove all but the ``keep`` newest versions of each package and
    architecture, newest as dpkg or rpm compare them."""
    if keep is None:
        return []
    groups: dict[tuple[str, str, str], list[Entry]] = {}
    for entry in held.values():
        groups.setdefault((entry.format, entry.package, entry.arch),
                          []).append(entry)
    pruned = []
    for (kind, _, _), entries in sorted(groups.items()):
        sort = vercmp.sort_deb if kind == 'deb' else vercmp.sort_rpm
        order = sort([e.version for e in entries], runner)
        for entry in entries:
            if order.index(entry.version) < len(order) - keep:
                (stage / entry.path).unlink()
                del held[Path(entry.path).name]
                pruned.append(dataclasses.replace(entry, status=PRUNED))
                if entry.status == ADDED:
                    LOG.warning('%s %s is older than the %d kept: not '
                                'published', entry.package, entry.version,
                                keep)
    return sorted(pruned, key=lambda e: e.path)


def _host_arch(runner: Runner) -> str:
    return runner.run([signing.tool('dpkg'), '--print-architecture'],
                      what='dpkg --print-architecture').output.strip()

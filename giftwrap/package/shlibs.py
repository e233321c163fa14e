"""Versioned library dependencies, as the distributions' own tools make them.

An unversioned ``libc6`` lets a package built on a newer system install on
an older one and fail at import.  Distributions version these from what
the compiled code uses:

* deb: ``dpkg-shlibdeps`` reads the owning packages' ``symbols`` and
  ``shlibs`` files (``libc6 (>= 2.34)``).  It runs where the build runs
  (inside a target's container there), from a scratch directory holding
  the minimal ``debian/control`` it insists on, with ``-O`` (print, write
  nothing), ``--ignore-missing-info`` (libraries a manylinux wheel bundles
  belong to no package) and ``-l`` for every ``*.libs`` directory such
  wheels bring.  Where it is missing (a target image without dpkg-dev) the
  owning package's ``shlibs`` entry for the soname is used (``dpkg-query
  --control-show``), else the installed version (``>=``): stricter, never
  looser, than dpkg-shlibdeps.
* rpm: ``elfdeps --requires`` (rpm's generator, in Debian's rpm package
  too) reads the ELF files alone (``libc.so.6(GLIBC_2.34)(64bit)``), so it
  runs on the build machine whatever the target.  Requirements met by the
  virtualenv's own libraries are dropped.

Every file name is one argument (``-eFILE``), never a shell word.

dpkg-shlibdeps takes about a second on a big virtualenv, and a rebuild of a
new commit has the same compiled code as the last one.  With a cache
directory its answer is kept in ``cache_dir/shlibs`` under a digest of
everything it depends on: the content of each ELF file and of each bundled
library, and the owning packages with their installed versions where the
build runs (their ``symbols`` and ``shlibs`` files come with the version).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from giftwrap import errors
from giftwrap.util import atomic
from giftwrap.util.process import Runner, find_tool

LOG = logging.getLogger(__name__)

#: Where Debian's and Fedora's rpm install the ELF dependency generator.
ELFDEPS = ('/usr/lib/rpm/elfdeps', '/usr/lib64/rpm/elfdeps')
_CONTROL = 'Source: giftwrap-shlibdeps\n\nPackage: giftwrap-shlibdeps\n' \
    'Architecture: any\n'
_SHLIBS_DEPENDS = 'shlibs:Depends='
_NAME = re.compile(r'^\s*([^\s()<>=!|,]+)')
#: Bump when what a cached entry holds, or how its key is made, changes.
_CACHE_FORMAT = 1


def deb_relations(files: Sequence[Path], venv: Path, runner: Runner,
                  scratch: Path, owners: Mapping[str, str],
                  cache_dir: Path | None = None) -> dict[str, str]:
    """Package name -> versioned relation for the libraries ``files`` need.

    :param owners: soname -> the package that owns it (the fallback's
        input; dpkg-shlibdeps finds the owners itself).
    :param scratch: an empty directory the runner can see, for
        dpkg-shlibdeps' ``debian/control``.
    :param cache_dir: keep dpkg-shlibdeps' answer in ``cache_dir/shlibs``.
    """
    if not files:
        return {}
    entry = _cache_entry(cache_dir, files, venv, owners, runner)
    found = _read_cached(entry)
    if found is not None:
        LOG.info('library versions from the cache: %s', entry)
        return found
    found = _shlibdeps(files, venv, runner, scratch)
    if found is not None:
        if entry is not None:
            _write_cached(entry, found)
        return found
    return _from_shlibs_files(owners, runner)


def _cache_entry(cache_dir: Path | None, files: Sequence[Path], venv: Path,
                 owners: Mapping[str, str], runner: Runner) -> Path | None:
    """Where dpkg-shlibdeps' answer for these inputs is kept; ``None``
    without a cache, or when the owners' versions cannot be read."""
    if cache_dir is None:
        return None
    packages = sorted({p for p in owners.values() if p})
    versions = runner.run(['dpkg-query', '-W', '-f',
                           '${Package} ${Version}\n', '--', *packages],
                          check=False, what='dpkg-query (owners\' versions)')
    if versions.returncode != 0:
        return None
    digest = hashlib.sha256(f'{_CACHE_FORMAT}\n'.encode())
    digest.update(''.join(sorted(versions.output.splitlines(True))).encode())
    for path in sorted({*files, *_bundled_files(venv)}):
        digest.update(b'\0' + os.fsencode(path.name) + b'\0')
        with open(path, 'rb') as handle:
            digest.update(hashlib.file_digest(handle, 'sha256').digest())
    return cache_dir / 'shlibs' / f'{digest.hexdigest()}.json'


def _bundled_files(venv: Path) -> list[Path]:
    """The libraries manylinux wheels bundle (``site-packages/*.libs``)."""
    return [p for d in venv.glob('lib/python*/site-packages/*.libs')
            for p in d.iterdir() if p.is_file()]


def _read_cached(entry: Path | None) -> dict[str, str] | None:
    """A cached answer, if it is there and well formed (the cache is not
    trusted more than a file anyone could write: else it is ignored)."""
    if entry is None or not entry.is_file():
        return None
    try:
        found = json.loads(entry.read_text(encoding='utf-8'))
    except (OSError, ValueError) as exc:
        LOG.debug('ignoring the unreadable %s: %s', entry, exc)
        return None
    if not isinstance(found, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and
            parse_depends(v).get(k) == v for k, v in found.items()):
        LOG.debug('ignoring the malformed %s', entry)
        return None
    return found


def _write_cached(entry: Path, found: Mapping[str, str]) -> None:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(entry, json.dumps(found, sort_keys=True) + '\n')
    except OSError as exc:  # a read-only cache: only slower next time
        LOG.debug('could not keep %s: %s', entry, exc)


def _shlibdeps(files, venv, runner, scratch) -> dict[str, str] | None:
    if runner.run(['dpkg-shlibdeps', '--version'], check=False,
                  what='dpkg-shlibdeps --version').returncode != 0:
        LOG.info('dpkg-shlibdeps is not installed where the build runs: '
                 'library versions come from the shlibs files')
        return None
    (scratch / 'debian').mkdir(parents=True, exist_ok=True)
    (scratch / 'debian' / 'control').write_text(_CONTROL, encoding='utf-8')
    bundled = sorted({str(p) for p in venv.glob(
        'lib/python*/site-packages/*.libs') if p.is_dir()})
    result = runner.run(
        ['dpkg-shlibdeps', '-O', '--ignore-missing-info',
         *[f'-l{d}' for d in bundled], *[f'-e{f}' for f in files]],
        cwd=scratch, check=False, what='dpkg-shlibdeps')
    line = next((ln for ln in result.output.splitlines()
                 if ln.startswith(_SHLIBS_DEPENDS)), None)
    if result.returncode != 0 or line is None:
        LOG.warning('dpkg-shlibdeps failed, library versions come from the '
                    'shlibs files instead:\n%s', result.tail(10))
        return None
    return parse_depends(line[len(_SHLIBS_DEPENDS):])


def parse_depends(value: str) -> dict[str, str]:
    """``libc6 (>= 2.34), a | b`` -> name of the first alternative ->
    relation (alternatives kept whole)."""
    relations = {}
    for item in (i.strip() for i in value.split(',')):
        match = _NAME.match(item)
        if item and match:
            relations.setdefault(match.group(1).split(':')[0], item)
    return relations


def _from_shlibs_files(owners: Mapping[str, str], runner: Runner
                       ) -> dict[str, str]:
    relations: dict[str, str] = {}
    for soname, package in sorted(owners.items()):
        if not package or package in relations:
            continue
        relation = shlibs_entry(soname, package, runner) or \
            _installed_at_least(package, runner)
        if relation:
            relations[package] = relation
    return relations


def split_soname(soname: str) -> tuple[str, str] | None:
    """``libyaml-0.so.2`` -> (``libyaml-0``, ``2``); ``libfoo-1.2.so`` ->
    (``libfoo``, ``1.2``), as shlibs files name libraries."""
    match = re.match(r'^(.+)\.so\.(.+)\Z', soname)
    if match:
        return match.group(1), match.group(2)
    match = re.match(r'^(.+)-([0-9][^-]*)\.so\Z', soname)
    return (match.group(1), match.group(2)) if match else None


def shlibs_entry(soname: str, package: str, runner: Runner) -> str | None:
    """The relation ``package``'s shlibs file gives for ``soname``."""
    parts = split_soname(soname)
    if parts is None:
        return None
    result = runner.run(['dpkg-query', '--control-show', '--', package,
                         'shlibs'], check=False, what='dpkg-query shlibs')
    if result.returncode != 0:
        return None
    for line in result.output.splitlines():
        words = line.split(None, 3)
        if words and words[0].endswith(':'):  # a type: udeb
            continue
        if len(words) >= 3 and (words[0], words[1]) == parts:
            return ' '.join(words[2:]).strip()
    return None


def _installed_at_least(package: str, runner: Runner) -> str | None:
    result = runner.run(['dpkg-query', '-W', '-f', '${Version}', '--',
                         package], check=False, what='dpkg-query -W')
    version = result.output.strip().splitlines()[-1:] or ['']
    if result.returncode != 0 or not version[0]:
        return None
    upstream = version[0].rsplit('-', 1)[0]
    return f'{package} (>= {upstream})'


def elfdeps() -> str | None:
    """rpm's ELF dependency generator on this machine, if installed."""
    found = next((p for p in ELFDEPS if os.access(p, os.X_OK)), None)
    return found or find_tool('elfdeps')


def rpm_requires(files: Sequence[Path], bundled: Iterable[str],
                 host: Runner) -> list[tuple[str, str]] | None:
    """(capability, soname) of what rpm's generator requires for
    ``files``, without what the sonames in ``bundled`` provide; ``None``
    without elfdeps.

    :raises giftwrap.errors.BuildError: elfdeps failed.
    """
    tool = elfdeps()
    if tool is None or not files:
        return None
    result = host.run([tool, '--requires'], check=False, what='elfdeps',
                      stdin=''.join(f'{f}\n' for f in files).encode())
    if result.returncode != 0:
        raise errors.BuildError('rpm\'s elfdeps could not read the '
                                'virtualenv\'s ELF files', output=result.tail(10),
                                hint='see the build log')
    inside = set(bundled)
    requires = []
    for line in sorted(set(result.output.split())):
        soname = line.split('(', 1)[0]
        if soname in inside:
            continue
        requires.append((line, soname if '.so' in soname else ''))
    return requires

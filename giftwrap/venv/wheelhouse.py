"""The wheelhouse: distribution files kept on disk for builds without a network.

pip's cache is an HTTP cache: without the index it finds nothing in it.  So
giftwrap keeps every file pip installed (and every build requirement it
resolved) in ``<cache_dir>/wheelhouse``, a flat directory pip and uv read
with ``--find-links``.  A build fills it from what the install reported
(local files are copied, downloaded ones taken from pip's HTTP cache, the
rest downloaded once more); ``giftwrap fetch`` fills it from a lock, and
can copy a lock's files into a directory carried to another machine
(``--wheelhouse DIR``).  An ``--offline`` build runs pip with ``--no-index``
and uv with ``--offline``, both with the wheelhouses as find-links.

Files are named as the index named them and checked by sha256, against
the installer's report when kept and against the lock when used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping, Sequence

from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename,
                             canonicalize_name, canonicalize_version,
                             parse_sdist_filename, parse_wheel_filename)

from giftwrap import errors
from giftwrap.venv import installers
from giftwrap.util.hashing import sha256_file

LOG = logging.getLogger(__name__)


def cache_wheelhouse(cache_dir: Path) -> Path:
    """The wheelhouse giftwrap keeps in its cache."""
    return Path(cache_dir) / 'wheelhouse'


def environment(cache_dir: Path | None, extra: Sequence[Path] = (), *,
                offline: bool = False,
                base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables that make pip and uv use the wheelhouses (and, offline,
    nothing else).

    The operator's own ``PIP_FIND_LINKS``/``UV_FIND_LINKS`` stay first.
    ``--no-index`` would make an online build fail where the wheelhouse is
    missing a file, so only an offline build sets it.

    :param extra: more wheelhouses (``--wheelhouse DIR``).
    :param base: the operator's environment (default: ``os.environ``).
    """
    base = os.environ if base is None else base
    houses = [str(Path(p).resolve()) for p in extra]
    if cache_dir is not None and (offline or houses):
        houses.append(str(cache_wheelhouse(cache_dir)))
    env: dict[str, str] = {}
    if houses:
        env['PIP_FIND_LINKS'] = ' '.join(
            filter(None, [base.get('PIP_FIND_LINKS', ''), *houses]))
        env['UV_FIND_LINKS'] = ','.join(
            filter(None, [base.get('UV_FIND_LINKS', ''), *houses]))
    if offline:
        env.update(PIP_NO_INDEX='1', UV_OFFLINE='1')
    return env


def keep(reports: Iterable[Path], cache_dir: Path, pip_cache: Path
         ) -> list[tuple[str, str]]:
    """Keep the files pip's ``--report`` files name in the cache's wheelhouse.

    :param reports: pip's JSON reports (installs and dry runs).
    :param pip_cache: pip's cache directory (its ``http-v2`` bodies).
    :returns: (url, sha256) of the files found nowhere on this machine, to
        download.
    """
    house = cache_wheelhouse(cache_dir)
    missing = []
    for url, sha in sorted(_report_files(reports)):
        name = _filename(url)
        if name is None or _has(house / name, sha):
            continue
        source = _local_source(url, pip_cache)
        if source is not None and sha256_file(source) == sha:
            _copy(source, house / name)
        else:
            missing.append((url, sha))
    return missing


def _report_files(reports: Iterable[Path]) -> set[tuple[str, str]]:
    found = set()
    for report in reports:
        try:
            items = json.loads(report.read_text()).get('install', ())
        except (OSError, ValueError) as exc:
            LOG.debug('not reading %s: %s', report, exc)
            continue
        for item in items:
            info = item.get('download_info', {})
            sha = info.get('archive_info', {}).get('hashes', {}).get('sha256')
            if sha and info.get('url'):
                found.add((info['url'], sha))
    return found


def _filename(url: str) -> str | None:
    """The distribution file ``url`` names, or None (not a wheel or sdist)."""
    name = urllib.parse.unquote(PurePosixPath(
        urllib.parse.urlsplit(url).path).name)
    return name if identify(name) is not None else None


def _local_source(url: str, pip_cache: Path) -> Path | None:
    """Where ``url``'s bytes are on this machine: the file itself, or the
    body pip's HTTP cache keeps for it (pip >= 23.3)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == 'file':
        return Path(urllib.request.url2pathname(parts.path))
    if parts.scheme not in ('http', 'https'):
        return None
    # cachecontrol's key: scheme and host lower-cased, no fragment
    key = (f'{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path or "/"}'
           + (f'?{parts.query}' if parts.query else ''))
    hashed = hashlib.sha224(key.encode()).hexdigest()
    body = Path(pip_cache, 'http-v2', *hashed[:5], hashed + '.body')
    return body if body.is_file() else None


def identify(filename: str) -> tuple[str, str] | None:
    """(canonical name, canonical version) of a wheel or sdist file name."""
    try:
        if filename.endswith('.whl'):
            name, version = parse_wheel_filename(filename)[:2]
        elif filename.endswith(('.tar.gz', '.zip')):
            name, version = parse_sdist_filename(filename)
        else:
            return None
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return canonicalize_name(name), canonicalize_version(version)


def files_of(houses: Iterable[Path], name: str, version: str
             ) -> list[Path]:
    """The files of ``name`` ``version`` in the wheelhouses."""
    wanted = (canonicalize_name(name), canonicalize_version(version))
    return [path for house in houses if Path(house).is_dir()
            for path in sorted(Path(house).iterdir())
            if path.is_file() and identify(path.name) == wanted]


def check(houses: Sequence[Path], locked: Mapping[str, tuple[str, ...]],
          where: str) -> list[str]:
    """Check the wheelhouses' files of the locked versions by sha256.

    :param locked: ``name==version`` -> the sha256s the lock allows.
    :returns: the locked ``name==version`` that no wheelhouse has.
    :raises giftwrap.errors.BuildError: a file has another sha256 than
        the lock records (re-uploaded, tampered, or of another lock).
    """
    missing, wrong = [], []
    for spec, hashes in sorted(locked.items()):
        name, version = spec.split('==', 1)
        found = files_of(houses, name, version)
        if not found:
            missing.append(spec)
        wrong += [f'{p}: sha256 {s}' for p in found
                  if (s := sha256_file(p)) not in hashes and hashes]
    if wrong:
        raise errors.BuildError(
            'wheelhouse files do not have the sha256 the lock records',
            where=where, output='\n'.join(wrong),
            hint='find out why they differ, remove them, and make the '
                 'wheelhouse again (giftwrap fetch --wheelhouse DIR)')
    return missing


def export(cache_dir: Path, dest: Path,
           locked: Mapping[str, tuple[str, ...]]) -> list[Path]:
    """Copy the locked files from the cache's wheelhouse to ``dest``.

    :returns: the files copied (or already there).
    :raises giftwrap.errors.BuildError: a locked file is not in the cache.
    """
    house = cache_wheelhouse(cache_dir)
    copied, missing = [], []
    for spec, hashes in sorted(locked.items()):
        name, version = spec.split('==', 1)
        found = [p for p in files_of([house], name, version)
                 if not hashes or sha256_file(p) in hashes]
        if not found:
            missing.append(spec)
        for path in found:
            if not _has(dest / path.name, sha256_file(path)):
                _copy(path, dest / path.name)
            copied.append(dest / path.name)
    if missing:
        raise errors.BuildError(
            'the cache has no file of ' + ', '.join(missing),
            where=str(house), hint='check the output of the download above; '
                                   'the index may not serve these versions')
    return copied


def _has(path: Path, sha: str) -> bool:
    return path.is_file() and sha256_file(path) == sha


def _copy(source: Path, dest: Path) -> None:
    """Copy whole or not at all: concurrent builds share the wheelhouse."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix='.tmp-')
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download(python: Path, lines: Sequence[str], dest: Path,
             cache_dir: Path | None, runner, env: Mapping[str, str],
             work_dir: Path, *, hashed: bool = False) -> None:
    """Download ``lines`` (requirements or URLs, giftwrap's own: no
    option) into ``dest`` with ``python``'s pip: the files an install
    with that interpreter would take, each without its dependencies.

    Two versions of one distribution (pbr 7.0.1 built the project, the
    closure runs pbr 7.1.3) are two pip runs: even with ``--no-deps`` pip
    refuses both in one.

    :param hashed: every line carries ``--hash`` options (pip's
        hash-checking mode).
    """
    for number, batch in enumerate(_batches(lines)):
        _download_batch(python, batch, dest, cache_dir, runner, env,
                        work_dir / f'download-{number}', hashed=hashed)


def _batches(lines: Sequence[str]) -> list[list[str]]:
    """``lines`` in as few groups as hold each distribution at most once."""
    batches: list[tuple[set[str], list[str]]] = []
    for line in lines:
        name = _line_name(line)
        batch = next((b for b in batches if name is None or name not in b[0]),
                     None)
        if batch is None:
            batch = (set(), [])
            batches.append(batch)
        if name is not None:
            batch[0].add(name)
        batch[1].append(line)
    return [b[1] for b in batches]


def _line_name(line: str) -> str | None:
    """The canonical distribution name a download line is for: a file
    URL's (``.../pbr-7.0.1-py3-none-any.whl#sha256=...``) or a
    requirement's (``pbr==7.0.1 --hash=...``)."""
    word = line.split()[0] if line.split() else ''
    if '://' in word:
        found = identify(urllib.parse.unquote(
            urllib.parse.urlsplit(word).path.rsplit('/', 1)[-1]))
        return found[0] if found else None
    return canonicalize_name(word.split('==', 1)[0]) if '==' in word else None


def _download_batch(python: Path, lines: Sequence[str], dest: Path,
                    cache_dir: Path | None, runner, env: Mapping[str, str],
                    work_dir: Path, *, hashed: bool) -> None:
    if not lines:
        return
    # pip writes into a directory of this job's; each file then appears in
    # the shared wheelhouse whole.
    scratch = work_dir / 'downloads'
    work_dir.mkdir(parents=True, exist_ok=True)
    requirements = work_dir / f'download{"-hashed" if hashed else ""}.txt'
    requirements.write_text(''.join(f'{line}\n' for line in lines))
    argv = [str(python), '-m', 'pip', 'download', '--no-deps',
            '--progress-bar', 'off', *installers.pip_cache_args(cache_dir),
            *(['--require-hashes'] if hashed else []), '-d', str(scratch),
            '-r', str(requirements)]
    try:
        runner.run(argv, env=dict(env), what='pip download (wheelhouse)')
    except errors.CommandError as exc:
        raise errors.BuildError(
            'pip could not download the distributions for the wheelhouse',
            output=exc.output,
            hint=installers.failure_hint(exc.output, 'pip')) from exc
    for path in sorted(scratch.iterdir()):
        if identify(path.name) is not None:
            _copy(path, dest / path.name)


def locked(entries: Iterable) -> dict[str, tuple[str, ...]]:
    """``name==version`` -> the sha256s the lock allows for its files, of
    every pin and build tool of lock ``entries`` (:class:`lockfile.Entry`)."""
    found: dict[str, set[str]] = {}
    for entry in entries:
        for pin in entry.pins.values():
            spec = f'{canonicalize_name(pin["name"])}=={pin["version"]}'
            found.setdefault(spec, set()).update(
                [pin['sha256']] if pin.get('sha256') else [])
        for name, version in entry.build_tools.items():
            spec = f'{canonicalize_name(name)}=={version}'
            found.setdefault(spec, set()).update(
                entry.build_tool_hashes.get(name, ()))
    return {spec: tuple(sorted(h)) for spec, h in sorted(found.items())}

"""The build requirements of every source build, pinned before the install.

The installer builds the project's checkout, and every pin that has no
wheel for the interpreter, in an isolated environment holding what that
source declares in ``[build-system] requires``.  Left alone, those float:
pbr, hatchling, setuptools_scm, cython would be whatever the index had that
day.  :func:`pin` finds every source build before the install (the
installer's own dry run), reads what each declares
(:mod:`giftwrap.venv.buildsystem`: an sdist's from its archive), resolves
the union with the installer in use, the seeded setuptools (and wheel) fixed, and returns exact
versions: ``giftwrap.venv.build`` writes them to the build constraints file and
the lock's ``build_tools``.

One build constraints file serves every build, so the union must resolve:
when two sources' build requirements conflict, or one cannot be met with
the seeded tools, the build fails naming them; override one pin to a
version with a wheel, or with requirements that agree.

A resolution is cached in ``cache_dir/build-requirements`` for
:data:`EXPIRY` (new pbr releases are picked up the next day); what an sdist
declares is kept by its sha256 for good; uv's resolution of the install
phases (which distributions build from source) in ``cache_dir/discover``
(:mod:`giftwrap.venv.discovercache`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping, Sequence

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from giftwrap import errors
from giftwrap.util import atomic, identifiers
from giftwrap.venv import discovercache, installers
from giftwrap.venv.buildsystem import normalized, project_requires, sdist_requires
from giftwrap.venv.interpreter import Interpreter
from giftwrap.util.process import Runner, network_hint

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover
    tomllib = None

LOG = logging.getLogger(__name__)

#: How long a cached resolution is used, in seconds.
EXPIRY = 24 * 3600
#: Resolutions of build requirements that are sdists themselves, at most.
_ROUNDS = 3
#: 2: setup_requires count (an sdist's entry says what it declares);
#: 3: a resolution keeps the hashes of what it resolved
_CACHE_FORMAT = 3


@dataclasses.dataclass(frozen=True)
class Found:
    """A distribution an installer resolved, and whether it builds it.

    :ivar sdist: the sdist's URL when there is no wheel for the interpreter.
    :ivar directory: a local source tree (the project, a local path).
    """

    name: str
    version: str
    sdist: str | None = None
    sha256: str | None = None
    directory: Path | None = None
    #: the sha256 of every file of this version the index offers that
    #: suits the interpreter (pip: the one it chose; uv: each wheel and the
    #: sdist): a locked build tool may be any of them.
    hashes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Context:
    """Where and how :func:`pin` runs the installer.

    :ivar venv: the virtualenv being built; its interpreter resolves.
    :ivar installer: ``pip`` or ``uv``.
    :ivar offline: no index: a cached resolution serves however old it is.
    """

    venv: Path
    installer: str
    interpreter: Interpreter
    work_dir: Path
    cache_dir: Path | None
    runner: Runner
    env: Mapping[str, str]
    offline: bool = False


@dataclasses.dataclass(frozen=True)
class Pinned:
    """What :func:`pin` found.

    :ivar versions: name -> version of every build requirement, sorted.
    :ivar lock: uv's ``pylock.toml`` of the whole install, when one
        resolution covered every phase: its exact versions spare the
        install a second resolution, and it holds the hashes the lock file
        records.
    :ivar hashes: name -> the sha256 of the files the index offers for the
        resolved version, of each build requirement it reported them for.
    """

    versions: Mapping[str, str]
    lock: Path | None = None
    hashes: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=dict)


def pin(ctx: Context, *, seeded: Mapping[str, str], source_dir: Path,
        phases: Sequence[Sequence[str]], constraints: Path) -> Pinned:
    """Exact versions for the build requirements of every source build.

    :param seeded: the seeded tools (name -> version); setuptools and wheel
        are fixed at these, and returned too.
    :param source_dir: the project's checkout.
    :param phases: what each install phase will install (the project's
        spec among them); manifest values, never options.
    :param constraints: the runtime pins' constraints file.
    :returns: ``seeded`` and the resolved union (name -> version, sorted),
        and uv's resolution of the install, where there is one.
    :raises giftwrap.errors.BuildError: a requirement cannot be met with
        the seeded tools, two sources conflict, or the installer failed.
    """
    fixed = {n: v for n, v in seeded.items() if n != 'pip'}
    sources = {'the project': project_requires(source_dir)}
    check_fixed(sources, fixed, ctx.interpreter)  # before any installer run
    found, lock = _discover(ctx, [p for p in phases if p], constraints,
                            source_dir=source_dir, seeded=seeded)
    builds = _source_builds(ctx, found, sources, skip=source_dir)
    check_fixed(builds, fixed, ctx.interpreter)
    sources.update(builds)
    versions, hashes = _cached_union(ctx, sources, seeded, fixed)
    return Pinned(dict(sorted({**versions, **seeded}.items())), lock,
                  dict(sorted(hashes.items())))


def _requirements_file(ctx: Context, name: str, lines: Iterable[str]
                       ) -> Path:
    """``lines`` as a requirements file; none may read as an option."""
    lines = sorted(set(lines)) if name != 'discover' else list(lines)
    for line in lines:
        if line.lstrip().startswith('-') or '\n' in line:
            raise errors.BuildError(f'{line!r} is not a requirement',
                                    hint='give requirements and paths only')
    path = ctx.work_dir / f'build-{name}.in'
    path.write_text(''.join(f'{line}\n' for line in lines))
    return path


def _discover(ctx: Context, phases: Sequence[Sequence[str]],
              constraints: Path, *, source_dir: Path,
              seeded: Mapping[str, str]) -> tuple[list[Found], Path | None]:
    """What the install phases resolve to, together, else one by one; and
    uv's pylock.toml of them together, if it made one (or the cache kept
    one: :mod:`giftwrap.venv.discovercache`).

    Phases may conflict (a postinstall dependency may replace a version
    the project needs: pip check judges that after the install), and a
    phase that cannot be resolved is left to the install to report.
    """
    everything = [spec for phase in phases for spec in phase]
    entry = _discover_entry(ctx, phases, constraints, source_dir, seeded)
    cached = _cached_discover(ctx, entry, source_dir, everything)
    if cached is not None:
        return cached
    found = _discover_phase(ctx, everything, constraints, quiet=len(phases) > 1)
    if found is not None:
        lock = _lock_file(ctx, 'discover') if ctx.installer == 'uv' else None
        if entry is not None and lock is not None:
            discovercache.write(entry, lock.read_text(), source_dir,
                                ctx.work_dir)
        return found, lock
    return [item for phase in phases
            for item in _discover_phase(ctx, phase, constraints) or ()], None


def _discover_entry(ctx: Context, phases: Sequence[Sequence[str]],
                    constraints: Path, source_dir: Path,
                    seeded: Mapping[str, str]) -> Path | None:
    """Where the cache keeps uv's resolution of ``phases``; ``None``: not
    cached (pip, no cache directory, a spec that is not a plain
    requirement)."""
    if ctx.installer != 'uv' or ctx.cache_dir is None or tomllib is None:
        return None
    env = {**installers.uv_environment(ctx.env, ctx.cache_dir),
           **ctx.runner.extra_env}  # what uv runs with
    try:
        version = discovercache.uv_version(installers.uv_binary(),
                                           ctx.runner, env)
    except errors.CommandError as exc:  # the install will say more
        LOG.debug('uv --version failed, nothing cached: %s', exc)
        return None
    key = discovercache.key(
        installer=version,
        interpreter=ctx.interpreter, seeded=seeded,
        constraints=constraints.read_text(), phases=phases,
        source_dir=source_dir, env=env, work_dir=ctx.work_dir)
    return None if key is None else discovercache.path(ctx.cache_dir, key)


def _cached_discover(ctx: Context, entry: Path | None, source_dir: Path,
                     specs: Sequence[str]
                     ) -> tuple[list[Found], Path] | None:
    """The cached resolution, as :func:`_uv_resolve` would have found it
    (and its pylock.toml in the same place); ``None``: none serves."""
    # The specs are checked (no option among them) as on a resolution.
    _requirements_file(ctx, 'discover', specs)
    text = discovercache.read(entry, source_dir, offline=ctx.offline) \
        if entry is not None else None
    if text is None:
        return None
    try:
        found = [_uv_found(p, ctx.work_dir)
                 for p in tomllib.loads(text).get('packages', ())]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        LOG.debug('ignoring the unreadable %s: %s', entry, exc)
        return None
    lock = _lock_file(ctx, 'discover')
    lock.write_text(text)
    LOG.info('resolution from the cache: %s', entry)
    ctx.runner.note(f'resolution from the cache: {entry}')
    return found, lock


def _discover_phase(ctx: Context, specs: Sequence[str], constraints: Path,
                    quiet: bool = False) -> list[Found] | None:
    try:
        return _RESOLVERS[ctx.installer](
            ctx, 'discover', _requirements_file(ctx, 'discover', specs),
            constraints)
    except errors.CommandError as exc:
        (LOG.debug if quiet else LOG.warning)(
            'cannot tell which of %s build from source, the install will '
            'say why:\n%s', ', '.join(specs), exc.output)
        return None


def _source_builds(ctx: Context, found: Sequence[Found],
                   known: Mapping[str, object], skip: Path | None = None
                   ) -> dict[str, tuple[str, ...]]:
    """What each source build in ``found`` not yet ``known`` declares."""
    builds = {}
    for item in found:
        label = f'{item.name} {item.version} (sdist)'
        if item.sdist and label not in known:
            builds[label] = _sdist_declared(ctx, item)
        elif item.directory and item.directory != skip:
            builds[f'{item.name} ({item.directory})'] = \
                project_requires(item.directory)
    return builds


def _sdist_declared(ctx: Context, item: Found) -> tuple[str, ...]:
    """What ``item``'s sdist declares: cached by its sha256, else fetched."""
    cached = _cache_path(ctx, 'sdists', f'{item.sha256}.{_CACHE_FORMAT}') \
        if item.sha256 else None
    if cached is not None and cached.is_file():
        try:
            requires = json.loads(cached.read_text())['requires']
            if not isinstance(requires, list):
                raise TypeError('requires is not a list')
            return tuple(normalized(r, str(cached)) for r in requires)
        except (ValueError, KeyError, TypeError, errors.BuildError):
            LOG.debug('ignoring the unreadable %s', cached)
    requires = sdist_requires(_download(ctx, item))
    if cached is not None:
        _write(cached, {'requires': list(requires)})
    return requires


def _download(ctx: Context, item: Found) -> Path:
    """The sdist, fetched by pip from the URL the user's index gave.

    pip honours the user's configuration (certificates, credentials,
    proxies) and checks the index's sha256.
    """
    if ctx.offline and not item.sdist.startswith('file:'):
        # (offline, pip found it in a wheelhouse: a file: URL; uv may name
        # the index's URL from its cache, which must not be asked)
        raise errors.BuildError(
            f'the sdist of {item.name} {item.version} is needed to read its '
            'build requirements, and giftwrap is offline',
            where=item.sdist,
            hint='run giftwrap fetch -m MANIFEST with the network first, '
                 'with the same --cache-dir')
    dest = ctx.work_dir / 'sdists' / canonicalize_name(item.name)
    dest.mkdir(parents=True, exist_ok=True)
    url = item.sdist + (f'#sha256={item.sha256}' if item.sha256 else '')
    ctx.runner.run([str(ctx.venv / 'bin' / 'python'), '-m', 'pip',
                    'download', '--no-deps', '--quiet', *installers.pip_cache_args(ctx.cache_dir),
                    '-d', str(dest), '--', url], env=dict(ctx.env),
                   what=f'pip download ({item.name} sdist)')
    name = urllib.parse.unquote(
        PurePosixPath(urllib.parse.urlsplit(item.sdist).path).name)
    return dest / name


def check_fixed(sources: Mapping[str, Sequence[str]],
                fixed: Mapping[str, str], interpreter: Interpreter) -> None:
    """Fail on a requirement the seeded setuptools or wheel cannot meet.

    :param sources: what needs each list of requirements (``the project``,
        ``docopt 0.6.2 (sdist)``) -> its build requirements.
    :param fixed: name -> version every build uses.
    :param interpreter: markers are evaluated for it.
    :raises giftwrap.errors.BuildError: naming the source, the requirement
        and what to do.
    """
    env = interpreter.marker_environment()
    for label, requires in sources.items():
        for text in requires:
            req = Requirement(text)
            have = fixed.get(canonicalize_name(req.name))
            if have is None or (req.marker and not req.marker.evaluate(env)):
                continue
            if not req.specifier.contains(have, prereleases=True):
                raise errors.BuildError(
                    f'{label} needs {text} to build, but every build uses '
                    f'{req.name} {have}, the version virtualenv seeded',
                    hint=f'override that pin to a version that builds '
                         f'with {req.name} {have} or has a wheel for Python '
                         f'{interpreter.short_version} (the project: change '
                         f'its [build-system] requires), or use a '
                         f'virtualenv release that seeds a {req.name} '
                         f'matching {text}')


def _cached_union(ctx: Context, sources: dict[str, tuple[str, ...]],
                  seeded: Mapping[str, str], fixed: Mapping[str, str]
                  ) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """The union's resolution (versions, and the hashes the index gave),
    from the cache when it is young enough."""
    union = sorted({r for requires in sources.values() for r in requires})
    key = cache_key(union, ctx.interpreter, seeded, ctx.installer)
    path = _cache_path(ctx, 'resolved', key)
    versions = read_resolution(path, expiry=None if ctx.offline else EXPIRY
                               ) if path else None
    if versions is not None:
        LOG.info('build requirements from the cache: %s', path)
        return versions, read_hashes(path)
    fixed_file = _requirements_file(
        ctx, 'fixed', [f'{n}=={v}' for n, v in fixed.items()])
    # The seeded tools resolved too, so the lock has their hashes as well.
    found = _resolve_rounds(ctx, {**sources, 'the seeded tools': tuple(
        f'{n}=={v}' for n, v in fixed.items())}, fixed_file)
    versions = {canonicalize_name(f.name): f.version for f in found}
    hashes = {canonicalize_name(f.name): f.hashes for f in found if f.hashes}
    if path is not None:
        _write(path, {'resolved_at': time.time(), 'versions': versions,
                      'hashes': {k: list(v) for k, v in hashes.items()}})
    return versions, hashes


def _resolve_rounds(ctx: Context, sources: dict[str, tuple[str, ...]],
                    fixed: Path) -> list[Found]:
    """Resolve the union, then again with what its sdists declare."""
    for _ in range(_ROUNDS):
        union = [r for requires in sources.values() for r in requires]
        found = _run(ctx, 'resolve', _requirements_file(ctx, 'union', union),
                     fixed, failed=functools.partial(_diagnose, ctx, sources,
                                                     fixed))
        more = _source_builds(ctx, found, sources)
        if not more:
            break
        sources.update(more)
    else:
        LOG.warning('build requirements built from sdists %d levels deep; '
                    'the deepest are not constrained', _ROUNDS)
    return found


def _diagnose(ctx: Context, sources: Mapping[str, Sequence[str]],
              fixed: Path, exc: errors.CommandError) -> errors.BuildError:
    """Which source cannot be met, or which two conflict (or the network
    failed, which is neither)."""
    if network_hint(exc.output):
        return errors.BuildError(
            'the build requirements could not be resolved: the package '
            'index cannot be reached', output=exc.output,
            hint=network_hint(exc.output))
    alone = {label: _alone(ctx, label, requires, fixed)
             for label, requires in sources.items()}
    for name in sorted({n for v in alone.values() for n in v}):
        users = {lb: v[name] for lb, v in alone.items() if name in v}
        if len(set(users.values())) > 1:
            return errors.BuildError(
                f'the build requirements of {" and ".join(sorted(users))} '
                f'conflict on {name}', output=exc.output,
                hint='one build constraints file serves every build: '
                     'override one of these pins to a version with a wheel '
                     f'for Python {ctx.interpreter.short_version}, or with '
                     'build requirements that agree')
    return errors.BuildError('the build requirements do not resolve together',
                             output=exc.output, hint=exc.hint)


def _alone(ctx: Context, label: str, requires: Sequence[str], fixed: Path
           ) -> dict[str, str]:
    """The resolution of one source's build requirements on their own."""
    def failed(exc: errors.CommandError) -> errors.BuildError:
        if network_hint(exc.output):
            return errors.BuildError(
                f'the build requirements of {label} could not be resolved: '
                'the package index cannot be reached', output=exc.output,
                hint=network_hint(exc.output))
        return errors.BuildError(
            f'the build requirements of {label} cannot be met: '
            + ', '.join(requires), output=exc.output,
            hint='they must hold with the seeded tools ('
                 + ', '.join(fixed.read_text().split()) + '): fix the '
                 'project\'s [build-system] requires, or override the '
                 'sdist\'s pin to a version with a wheel or other build '
                 'requirements')
    found = _run(ctx, 'alone', _requirements_file(ctx, 'alone', requires),
                 fixed, failed=failed)
    return {canonicalize_name(f.name): f.version for f in found}


def cache_key(requirements: Sequence[str], interpreter: Interpreter,
              seeded: Mapping[str, str], installer: str) -> str:
    """The cache key of a resolution: everything its result depends on."""
    data = {'format': _CACHE_FORMAT, 'requirements': sorted(requirements),
            'interpreter': [interpreter.implementation, interpreter.version,
                            interpreter.soabi, interpreter.platform_machine],
            'seeded': dict(sorted(seeded.items())), 'installer': installer}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()
                          ).hexdigest()


def read_resolution(path: Path, now: float | None = None,
                    expiry: float | None = EXPIRY) -> dict[str, str] | None:
    """A cached resolution, or ``None``: missing, unreadable or expired.

    One made "in the future" (another clock) counts as expired.

    :param expiry: seconds a resolution is used; ``None``: for good
        (``--offline``, where no index can give a newer one).
    """
    now = time.time() if now is None else now
    try:
        data = json.loads(path.read_text())
        age = now - float(data['resolved_at'])
        versions = {str(k): str(v) for k, v in data['versions'].items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        LOG.debug('ignoring the unreadable %s', path)
        return None
    if expiry is None:
        return versions
    return versions if 0 <= age < expiry else None


def read_hashes(path: Path) -> dict[str, tuple[str, ...]]:
    """The hashes a cached resolution recorded; none where unreadable, or
    not each a sha256 (the cache is giftwrap's, but checked all the same:
    they reach a constraints file)."""
    try:
        data = json.loads(path.read_text()).get('hashes', {})
        hashes = {canonicalize_name(str(k)): tuple(str(h) for h in v)
                  for k, v in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}
    return {k: v for k, v in hashes.items()
            if v and all(identifiers.is_valid('sha256', h) for h in v)}


def _cache_path(ctx: Context, kind: str, key: str) -> Path | None:
    if ctx.cache_dir is None:
        return None
    return ctx.cache_dir / 'build-requirements' / kind / f'{key}.json'


def _write(path: Path, data: Mapping) -> None:
    """Write a cache file whole: a concurrent reader sees old or new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(data, indent=1, sort_keys=True) + '\n')


def _run(ctx: Context, what: str, requirements: Path, constraints: Path, *,
         failed: Callable[[errors.CommandError], errors.BuildError]
         ) -> list[Found]:
    """Resolve ``requirements`` with the installer, installing nothing."""
    try:
        return _RESOLVERS[ctx.installer](ctx, what, requirements, constraints)
    except errors.CommandError as exc:
        raise failed(exc) from exc


def _pip_resolve(ctx: Context, what: str, requirements: Path,
                 constraints: Path) -> list[Found]:
    report = ctx.work_dir / f'build-{what}-report.json'
    ctx.runner.run([str(ctx.venv / 'bin' / 'python'), '-m', 'pip', 'install',
                    '--dry-run', '--ignore-installed', '--quiet',
                    '--progress-bar', 'off', '--report', str(report),
                    *installers.pip_cache_args(ctx.cache_dir), '-c', str(constraints),
                    '-r', str(requirements)],
                   env=dict(ctx.env), what=f'pip install --dry-run ({what})')
    return [_pip_found(item) for item in
            json.loads(report.read_text()).get('install', ())]


def _pip_found(item: Mapping) -> Found:
    """A ``pip --report`` entry: a wheel, an sdist or a local tree."""
    meta, info = item['metadata'], item.get('download_info', {})
    url = info.get('url', '')
    sha = info.get('archive_info', {}).get('hashes', {}).get('sha256')
    found = Found(meta['name'], meta['version'],
                  hashes=(sha,) if identifiers.is_valid('sha256', sha) else ())
    if 'dir_info' in info and url.startswith('file:'):
        path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
        return dataclasses.replace(found, directory=Path(path))
    if 'archive_info' in info and not \
            urllib.parse.urlsplit(url).path.endswith('.whl'):
        return dataclasses.replace(found, sdist=url, sha256=sha)
    return found


def _uv_resolve(ctx: Context, what: str, requirements: Path,
                constraints: Path) -> list[Found]:
    uv = installers.uv_binary()
    env = installers.uv_environment(ctx.env, ctx.cache_dir)
    lock = _lock_file(ctx, what)
    # uv_environment: no uv.toml or pyproject.toml above it applies.
    ctx.runner.run([uv, 'pip', 'compile', *installers.UV_SAFE, '--python',
                    str(ctx.venv / 'bin' / 'python'), '--format',
                    'pylock.toml', '--no-header', '--quiet', '-c',
                    str(constraints), '-o', str(lock), '--',
                    str(requirements)], cwd=ctx.work_dir, env=env,
                   what=f'uv pip compile ({what})')
    return [_uv_found(p, ctx.work_dir)
            for p in tomllib.loads(lock.read_text()).get('packages', ())]


def _lock_file(ctx: Context, what: str) -> Path:
    return ctx.work_dir / f'pylock.build{what}.toml'


def _uv_found(package: Mapping, base: Path) -> Found:
    """A pylock.toml entry; uv lists only the wheels that suit the
    interpreter, so one with none is built from its sdist."""
    files = [*package.get('wheels', ()), package.get('sdist') or {}]
    hashes = sorted({f.get('hashes', {}).get('sha256') for f in files} - {None})
    found = Found(package['name'], package.get('version', ''),
                  hashes=tuple(h for h in hashes if identifiers.is_valid('sha256', h)))
    if 'directory' in package:
        return dataclasses.replace(
            found, directory=base / package['directory']['path'])
    sdist = package.get('sdist')
    if sdist and not package.get('wheels'):
        return dataclasses.replace(found, sdist=sdist['url'],
                                   sha256=sdist.get('hashes', {}).get('sha256'))
    return found


_RESOLVERS = {'pip': _pip_resolve, 'uv': _uv_resolve}

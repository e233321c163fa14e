"""uv's resolution of the install phases, kept for the next build.

:func:`giftwrap.venv.buildreqs.pin` asks the installer which distributions
build from source: for uv a ``uv pip compile`` of every phase to a
``pylock.toml`` (a second or two for keystone), which the install then
installs as it is.  A rebuild of a new commit with the same pins and the
same dependencies gets the same answer, so the pylock.toml is kept in
``cache_dir/discover`` under a key of everything that decides it:

- uv and its version, the interpreter (path, version, markers) and the
  seeded tools;
- the constraints file, and every phase's specs, the project's checkout
  path replaced by a digest of the files that declare its dependencies
  (:data:`DECLARING`: a new commit that changes only code keeps the key);
- the index configuration uv sees: every ``UV_*`` and ``PIP_*`` variable
  of its environment, and the configuration file it reads (the
  operator's uv.toml, which giftwrap names: it discovers none).

Nothing is cached when another spec is not a plain requirement (a local
path, a URL, a VCS reference: what it holds may change under the same
text).  An entry serves for :data:`EXPIRY` (the index publishes new
releases), offline for good.  The cache is read as untrusted input: an
entry that does not parse, or does not name the project where expected,
is ignored and the resolution runs again.

Only uv's resolution is kept: pip's (``pip install --dry-run --report``)
writes a report the wheelhouse is also filled from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement

from giftwrap.util import atomic
from giftwrap.util.process import Runner
from giftwrap.venv.interpreter import Interpreter

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover
    tomllib = None

LOG = logging.getLogger(__name__)

#: How long a cached resolution is used, in seconds (as build requirements').
EXPIRY = 24 * 3600
#: The cache's directory under ``cache_dir`` (the ``discover`` kind).
DIRECTORY = 'discover'
#: Stands for the project's checkout in a cached pylock.toml.
PLACEHOLDER = '@giftwrap-project-checkout@'
#: The files of a checkout that declare its dependencies and its build
#: (pbr reads requirements.txt and setup.cfg; setuptools, hatch, flit and
#: poetry pyproject.toml or setup.cfg); more: :func:`_declaring_files`.
DECLARING = ('pyproject.toml', 'setup.cfg', 'setup.py', 'requirements.txt')
#: The variables that configure how uv finds distributions: all of
#: these prefixes (an index, find-links, offline, prereleases...).
_SETTINGS_PREFIXES = ('UV_', 'PIP_')
#: What giftwrap itself sets for uv, the same in every build.
_NOT_SETTINGS = frozenset({'UV_CACHE_DIR', 'UV_NO_CACHE'})
#: 2: resolutions ignore a project's [tool.uv.sources] (uv's --no-sources)
_FORMAT = 2

_versions: dict[tuple, str] = {}
_versions_lock = threading.Lock()


def uv_version(uv: str, runner: Runner, env: Mapping[str, str]) -> str:
    """``uv --version``, asked once a process per uv binary (a changed
    binary, by size or time, is asked again)."""
    try:
        stat = os.stat(uv)
        ident: tuple = (uv, stat.st_size, stat.st_mtime_ns)
    except OSError:
        ident = (uv,)
    with _versions_lock:
        known = _versions.get(ident)
    if known is None:
        known = runner.run([uv, '--version'], env=dict(env),
                           what='uv --version').output.strip()
        with _versions_lock:
            _versions[ident] = known
    return known


def key(*, installer: str, interpreter: Interpreter,
        seeded: Mapping[str, str], constraints: str,
        phases: Sequence[Sequence[str]], source_dir: Path,
        env: Mapping[str, str], work_dir: Path) -> str | None:
    """The cache key of the resolution of ``phases``, or ``None`` when it
    cannot be cached (a spec other than the project's that is not a plain
    requirement).

    :param installer: the installer and its version (``uv 0.9.1``).
    :param constraints: the constraints file's text.
    :param phases: each install phase's specs, the project's among them
        (its checkout, maybe with extras: ``/src/nova[foo]``).
    :param env: the environment uv runs with.
    :param work_dir: where uv runs: a uv.toml above it configures it.
    """
    specs = [[_spec(s, source_dir) for s in phase] for phase in phases]
    if any(s is None for phase in specs for s in phase):
        return None
    data = {
        'format': _FORMAT, 'installer': installer,
        'interpreter': [str(interpreter.path), interpreter.version,
                        interpreter.implementation, interpreter.soabi,
                        interpreter.platform_machine],
        'markers': interpreter.marker_environment(),
        'seeded': dict(sorted(seeded.items())),
        'constraints': constraints, 'phases': specs,
        'project': project_digest(source_dir),
        'environment': {k: v for k, v in sorted(env.items())
                        if k.startswith(_SETTINGS_PREFIXES)
                        and k not in _NOT_SETTINGS},
        'configuration': _configuration(env, work_dir)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()
                          ).hexdigest()


def _spec(spec: str, source_dir: Path) -> str | None:
    """``spec`` as the key holds it: the project's checkout as a
    placeholder (its extras kept); ``None``: not a plain requirement."""
    project = str(source_dir)
    if spec == project or (spec.startswith(project + '[')
                           and spec.endswith(']')):
        return PLACEHOLDER + spec[len(project):]
    try:
        req = Requirement(spec)
    except InvalidRequirement:
        return None  # a local path, a file
    return None if req.url else str(req)


def project_digest(source_dir: Path) -> str:
    """A digest of the files of the checkout that declare its dependencies
    and its build: a commit changing anything else keeps it."""
    digest = hashlib.sha256()
    for name in _declaring_files(source_dir):
        try:
            content = (source_dir / name).read_bytes()
        except OSError:
            content = None  # absent (or a directory): counts as such
        digest.update(json.dumps(
            [name, None if content is None else
             hashlib.sha256(content).hexdigest()]).encode() + b'\n')
    return digest.hexdigest()


def _declaring_files(source_dir: Path) -> list[str]:
    """:data:`DECLARING`, every top-level ``*requirements*.txt`` (pbr's
    ``requirements-py3.txt``), what a ``requirements/`` directory holds,
    and the files pyproject.toml's ``[tool.setuptools.dynamic]`` names."""
    names = set(DECLARING)
    names.update(p.name for p in _listing(source_dir)
                 if 'requirements' in p.name and p.suffix in ('.txt', '.in'))
    names.update(f'requirements/{p.name}'
                 for p in _listing(source_dir / 'requirements'))
    names.update(_dynamic_files(source_dir / 'pyproject.toml'))
    return sorted(names)


def _listing(directory: Path) -> list[Path]:
    try:
        return [p for p in directory.iterdir() if p.is_file()]
    except OSError:
        return []


def _dynamic_files(pyproject: Path) -> list[str]:
    """The files setuptools reads dependencies from (``dependencies =
    {file = [...]}``, and the same for optional-dependencies)."""
    try:
        dynamic = tomllib.loads(pyproject.read_text())['tool']['setuptools'][
            'dynamic']
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    tables = [dynamic.get('dependencies')]
    optional = dynamic.get('optional-dependencies')
    if isinstance(optional, dict):
        tables += optional.values()
    files: list[str] = []
    for table in tables:
        named = table.get('file') if isinstance(table, dict) else None
        named = [named] if isinstance(named, str) else named
        if isinstance(named, list):
            files += [n for n in named if isinstance(n, str)
                      and not os.path.isabs(n) and '..' not in n.split('/')]
    return files


def _configuration(env: Mapping[str, str], work_dir: Path) -> dict[str, str]:
    """The text of every configuration file uv may read: the one
    ``UV_CONFIG_FILE`` names; unless ``UV_NO_CONFIG`` (giftwrap's uv, see
    :func:`giftwrap.venv.installers.uv_environment`), the user's and the
    system's uv.toml too, and a uv.toml or pyproject.toml in the work
    directory or above it."""
    paths = [env['UV_CONFIG_FILE']] if env.get('UV_CONFIG_FILE') else []
    if not env.get('UV_NO_CONFIG'):
        home = env.get('HOME')
        xdg = env.get('XDG_CONFIG_HOME') or (
            f'{home}/.config' if home else None)
        paths += [f'{d}/uv/uv.toml' for d in (
            xdg, *(env.get('XDG_CONFIG_DIRS') or '/etc/xdg').split(':'),
            '/etc') if d]
        for directory in (work_dir, *work_dir.parents):
            paths += [str(directory / 'uv.toml'),
                      str(directory / 'pyproject.toml')]
    found = {}
    for path in paths:
        try:
            found[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            continue  # absent, or not readable by uv either
    return found


def path(cache_dir: Path, cache_key: str) -> Path:
    """The cache file of ``cache_key``."""
    return cache_dir / DIRECTORY / f'{cache_key}.json'


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def to_entry(lock: str, source_dir: Path, work_dir: Path) -> str | None:
    """uv's pylock.toml text with the project's checkout replaced by
    :data:`PLACEHOLDER`; ``None`` when the checkout cannot be told apart
    (it is missing, named more than once, or another directory is in it).
    """
    project = os.path.normpath(source_dir)
    try:
        raws = {p['directory']['path'] for p in _packages(lock)
                if 'directory' in p}
    except (ValueError, KeyError, TypeError):
        return None
    mine = [r for r in raws if os.path.normpath(work_dir / r) == project]
    if len(mine) != 1 or len(raws) != 1:
        return None  # a local directory other than the project
    quoted = _toml_string(mine[0])
    if lock.count(quoted) != 1:
        return None
    text = lock.replace(quoted, _toml_string(PLACEHOLDER))
    if mine[0] in text or project in text:
        return None  # the checkout named elsewhere too: a file within it
    return text


def from_entry(text: str, source_dir: Path) -> str | None:
    """The cached pylock.toml text for the checkout at ``source_dir``;
    ``None`` when it is not what :func:`to_entry` made."""
    quoted = _toml_string(PLACEHOLDER)
    if text.count(quoted) != 1:
        return None
    lock = text.replace(quoted, _toml_string(str(source_dir)))
    try:
        packages = _packages(lock)
        dirs = [p['directory']['path'] for p in packages if 'directory' in p]
    except (ValueError, KeyError, TypeError):
        return None
    if dirs != [str(source_dir)] or PLACEHOLDER in lock:
        return None
    return lock


def _packages(lock: str) -> list[dict]:
    """The packages of a pylock.toml, each checked to be a table with a
    name (and a version, if any, a string).

    :raises ValueError: not so.
    """
    packages = tomllib.loads(lock).get('packages', [])
    if not isinstance(packages, list) or not all(
            isinstance(p, dict) and isinstance(p.get('name'), str)
            and isinstance(p.get('version', ''), str)
            and isinstance(p.get('directory', {}), dict)
            for p in packages):
        raise ValueError('not a list of packages')
    return packages


def read(entry: Path, source_dir: Path, *, offline: bool = False,
         now: float | None = None) -> str | None:
    """The cached pylock.toml for the checkout at ``source_dir``, or
    ``None``: missing, unreadable, made by another format, or expired (made
    "in the future", by another clock, counts as expired).

    :param offline: any age serves (no index could give a newer answer).
    """
    now = time.time() if now is None else now
    try:
        data = json.loads(entry.read_text())
        if data['format'] != _FORMAT:
            raise ValueError(f'format {data["format"]!r}')
        age = now - float(data['resolved_at'])
        lock = from_entry(data['lock'], source_dir)
        if lock is None:
            raise ValueError('no pylock.toml of the project')
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        LOG.debug('ignoring the unreadable %s: %s', entry, exc)
        return None
    if not offline and not 0 <= age < EXPIRY:
        return None
    return lock


def write(entry: Path, lock: str, source_dir: Path, work_dir: Path,
          now: float | None = None) -> bool:
    """Keep ``lock`` (uv's pylock.toml text) as ``entry``, whole (a
    concurrent reader sees the old entry or the new one).

    :returns: whether it was kept (see :func:`to_entry`).
    """
    text = to_entry(lock, source_dir, work_dir)
    if text is None:
        LOG.debug('not caching the resolution: the checkout %s is not '
                  'alone in it', source_dir)
        return False
    entry.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(entry, json.dumps(
        {'format': _FORMAT, 'lock': text,
         'resolved_at': time.time() if now is None else now},
        indent=1, sort_keys=True) + '\n')
    return True

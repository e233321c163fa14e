"""Fetching a project's source from git with dulwich.

:func:`fetch` turns a URL and a ref into a work tree and a
:class:`~giftwrap.fetch.checkout.Checkout`.  dulwich speaks the git protocols
itself, so a manifest's URL or ref never reaches a command line: a ref such
as ``--upload-pack=...`` is only a name that no branch has.  (The ``ssh://``
transport does start ``ssh``; dulwich refuses host names beginning with
``-``.)  Once the objects are fetched, the work tree is written by git's
``read-tree`` where git is installed (:mod:`giftwrap.fetch.worktree`).

The work tree gets the tags that point into the fetched history, as
``git clone`` would, because pbr computes a project's version from them.

With a cache directory, each URL has one bare mirror,
``<cache_dir>/git/<sha256 of the URL>.git``, updated incrementally (only new
objects cross the network) under an ``fcntl`` lock that giftwrap processes
share; the work tree is then made from the mirror.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime
import fcntl
import errno
import hashlib
import logging
from pathlib import Path
import re
import shutil
from typing import Callable
from typing import Iterable
from typing import Iterator
from typing import Mapping
from typing import Optional

from dulwich import client as dulwich_client
from dulwich import errors as dulwich_errors
from dulwich.object_store import peel_sha
from dulwich.objects import Commit
from dulwich.repo import Repo
from pbr.version import SemanticVersion
import urllib3.exceptions

from giftwrap import errors
from giftwrap.util.process import find_tool, network_error, system_hint
from giftwrap.util.process import Runner
from giftwrap.fetch import brokenrepo, links, packmaps, worktree
from giftwrap.fetch.checkout import Checkout

try:
    import tomllib
except ImportError:  # Python < 3.11: pyproject.toml versions are not read
    tomllib = None

LOG = logging.getLogger(__name__)

# dulwich 1.2.13 and later fail closing a pack that a held frame still views.
packmaps.install()

#: Seconds an HTTP request may stall before the fetch fails.
DEFAULT_TIMEOUT = 300.0

_COMMIT_ID = re.compile(r'[0-9a-f]{4,40}')
_HEADS = b'refs/heads/'
_TAGS = b'refs/tags/'
_PEELED = b'^{}'
_PBR = re.compile(r'\bpbr\b')
#: How many branches and tags a "no such ref" hint lists.
_HINT_REFS = 5

Progress = Optional[Callable[[bytes], None]]
Client = dulwich_client.GitClient


def fetch(url: str, ref: str, dest: Path, *, depth: int | None = None,
          cache_dir: Path | None = None, runner: Runner | None = None,
          timeout: float = DEFAULT_TIMEOUT, refresh: bool = True,
          offline: bool = False) -> Checkout:
    """Check out ``ref`` of the repository at ``url`` into ``dest``.

    :param url: an ``https://``, ``http://``, ``git://`` or ``ssh://`` URL,
        a local path or a ``file://`` URL.
    :param ref: a branch or tag name, a full ``refs/...`` name, or a full or
        abbreviated commit id.  Branch names win over tags, names over ids.
    :param dest: the work tree to create; it must not exist or be empty.
    :param depth: fetch only this many commits of history (ignored for a
        commit id, and for the cache's mirror, which is always complete).
    :param cache_dir: keep an incrementally updated mirror of ``url`` there.
    :param runner: the project's runner; fetch progress goes to its log file.
    :param timeout: seconds an HTTP request may stall.
    :param refresh: bring the cache's mirror up to date first (False: the
        caller just did, with :func:`remote_state`).
    :param offline: use the cache's mirror as it is; never contact ``url``.
    :returns: the checkout, with its commit, date and ``source_version``.
    :raises giftwrap.errors.SourceError: the repository cannot be reached or
        read or is broken (a missing object, a ref dulwich refuses), the
        fetch timed out, ``ref`` does not exist or ``dest`` is not empty,
        or dulwich could not close a pack file (:mod:`.packmaps`).
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise errors.SourceError(
            f'cannot check out into {dest}: it is not empty', where=url,
            hint='remove it or choose another work directory')
    created = not dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.SourceError(
            f'cannot create the work tree {dest}: {exc.strerror}', where=url,
            hint='check the work directory\'s permissions') from exc
    progress = _progress_writer(runner)
    mirror = mirror_path(cache_dir, url) if cache_dir is not None else None
    offline = offline and not _is_local(url)
    if offline:
        _check_offline_mirror(url, mirror)
        refresh = False
    try:
        with brokenrepo.reported(url, mirror), \
                packmaps.reported(url, mirror):
            if mirror is None:
                commit_id = _clone(url, url, ref, dest, depth, timeout,
                                   progress, runner=runner)
            else:
                with _locked(mirror):
                    if refresh or not (mirror / 'objects').is_dir():
                        _update_mirror(url, mirror, ref, timeout, progress)
                    commit_id = _clone(str(mirror), url, ref, dest, depth,
                                       timeout, progress, shared=mirror,
                                       offline=offline, runner=runner)
            check_links(dest, url)
            return _make_checkout(dest, url, ref, commit_id)
    except BaseException:
        _discard(dest, created)
        raise


def remote_state(url: str, ref: str, cache_dir: Path, *,
                 runner: Runner | None = None,
                 timeout: float = DEFAULT_TIMEOUT,
                 offline: bool = False) -> tuple[str, str] | None:
    """The commit ``ref`` names now, and a digest of the tags, no checkout.

    Updates the cache's mirror of ``url`` (as :func:`fetch` would) and
    looks ``ref`` up there: what a warm rebuild needs to tell that nothing
    changed before it writes a work tree.  The tags count because pbr
    versions come from them.

    :param offline: look ``ref`` up in the mirror as it is.
    :returns: (full commit id, tags digest), or None when the mirror does
        not know ``ref`` (:func:`fetch` then says why).
    :raises giftwrap.errors.SourceError: the repository cannot be reached
        (offline: the cache has no mirror of it).
    """
    mirror = mirror_path(cache_dir, url)
    offline = offline and not _is_local(url)
    if offline:
        _check_offline_mirror(url, mirror)
    with _locked(mirror), brokenrepo.reported(url, mirror), \
            packmaps.reported(url, mirror):
        if not offline:
            _update_mirror(url, mirror, ref, timeout,
                           _progress_writer(runner))
        with Repo(str(mirror)) as repo:
            refs = repo.get_refs()
            sha = _find_ref(refs, ref)[1] or _expand(repo, ref)
            if sha is None:
                return None
            commit = peel_sha(repo.object_store, sha)[1]
            if not isinstance(commit, Commit):
                return None
            tags = hashlib.sha256(b''.join(
                n + b' ' + s + b'\n' for n, s in sorted(refs.items())
                if n.startswith(_TAGS))).hexdigest()
    return commit.id.decode(), tags


def _is_local(url: str) -> bool:
    """A path or ``file://`` URL: no network to avoid."""
    return url.startswith(('/', '.', 'file://')) or '://' not in url and \
        ':' not in url


def _check_offline_mirror(url: str, mirror: Path | None) -> None:
    """Offline, the cache's mirror is the only source of ``url``."""
    if mirror is None or not (mirror / 'objects').is_dir():
        raise errors.SourceError(
            f'the cache has no mirror of {url} and giftwrap is offline',
            where=url, hint=OFFLINE_HINT)


#: What to do when the git server cannot be reached.
GIT_NETWORK_HINT = ('the network failed, not the repository: check the '
                    'connection, the host name and the proxy; to build '
                    'without a network, run giftwrap fetch -m MANIFEST '
                    'while it works, then build with --offline')

#: What to do when an offline build lacks something.
OFFLINE_HINT = ('run giftwrap fetch -m MANIFEST (or a build) with the '
                'network first, with the same --cache-dir')


def check_links(tree: Path, url: str = '') -> None:
    """Refuse symlinks that lead out of the work tree (:func:`links.check`).

    :raises giftwrap.errors.SourceError: naming the first such links.
    """
    links.check(tree, url or str(tree))


def mirror_path(cache_dir: Path, url: str) -> Path:
    """Where the cache keeps the bare mirror of ``url``."""
    digest = hashlib.sha256(url.encode('utf-8')).hexdigest()
    return Path(cache_dir) / 'git' / f'{digest}.git'


def needs_git_cli(checkout_path: Path) -> bool:
    """Whether the project uses pbr, which runs ``git`` to find its version.

    :param checkout_path: the project's work tree.
    :returns: True if setup.cfg, setup.py or pyproject.toml mention pbr.
    """
    return _uses_pbr(Path(checkout_path))


def check_git_cli(checkout: Checkout) -> None:
    """Fail early when the project needs the git command and it is missing.

    :raises giftwrap.errors.MissingToolError: the project uses pbr and
        ``git`` is not installed.
    """
    if needs_git_cli(checkout.path) and find_tool('git') is None:
        raise errors.MissingToolError(
            'pbr needs the git command line to compute the version',
            where=checkout.url, hint='apt-get install git')


def _clone(source: str, url: str, ref: str, dest: Path, depth: int | None,
           timeout: float, progress: Progress,
           shared: Path | None = None, offline: bool = False,
           runner: Runner | None = None) -> bytes:
    """Fetch ``ref`` and its tags from ``source`` into a new work tree
    (written by :func:`giftwrap.fetch.worktree.write`).

    :param shared: the cache's mirror (``source``): its objects are borrowed
        (git's alternates, as ``git clone --shared``) instead of copied, so
        a checkout from the cache writes only the work tree.
    """
    client, path = _client(source, url, timeout)
    with Repo.init(dest) as repo, _transport_errors(url):
        if shared is not None:
            repo.object_store.add_alternate_path(str(Path(shared) / 'objects'))
        refs = _remote_refs(client, path)
        name, sha = _find_ref(refs, ref)
        if sha is None:
            commit_id = _fetch_commit_id(client, path, repo, refs, ref,
                                         progress)
        else:
            _fetch_wants(client, path, repo, [sha], progress, depth)
            commit_id = peel_sha(repo.object_store, sha)[1].id
        if commit_id is None:
            raise _missing_ref(url, ref, refs, offline)
        if not isinstance(repo[commit_id], Commit):
            raise errors.SourceError(
                f'{ref!r} does not name a commit', where=url,
                hint='use a branch, a tag of a commit or a commit id')
        tags = _follow_tags(client, path, repo, refs, progress)
        _write_refs(repo, url, name, commit_id, tags)
        worktree.write(repo, commit_id, url, runner)
    return commit_id


def _update_mirror(url: str, mirror: Path, ref: str, timeout: float,
                   progress: Progress) -> None:
    """Bring the mirror's branches and tags up to date with ``url``."""
    client, path = _client(url, url, timeout)
    if not (mirror / 'objects').is_dir():
        mirror.mkdir(parents=True, exist_ok=True)
        Repo.init_bare(mirror).close()
    with _transport_errors(url), Repo(str(mirror)) as repo:
        refs = _remote_refs(client, path)
        wanted = {n: s for n, s in refs.items() if _is_branch_or_tag(n)}
        # The mirror's own refs are the "haves": only new objects come.
        _fetch_wants(client, path, repo, wanted.values(), progress)
        for name in repo.refs.allkeys():
            if _is_branch_or_tag(name) and name not in wanted:
                del repo.refs[name]
        for name, sha in wanted.items():
            repo.refs[name] = sha
        if b'HEAD' in refs:
            # Keep the remote's HEAD (detached), so "gitref: HEAD" works
            # through the cache as it does without it.
            repo.refs.remove_if_equals(b'HEAD', None)
            repo.refs[b'HEAD'] = refs[b'HEAD']
        if _find_ref(refs, ref)[1] is None and _COMMIT_ID.fullmatch(ref):
            _fetch_unadvertised(client, path, repo, ref, progress)
    LOG.info('updated the git mirror of %s in %s', url, mirror)


def _fetch_commit_id(client: Client, path: str, repo: Repo,
                     refs: Mapping[bytes, bytes], ref: str,
                     progress: Progress) -> bytes | None:
    """Find commit id (or prefix) ``ref``: None if the remote lacks it."""
    if not _COMMIT_ID.fullmatch(ref):
        return None
    # git cannot ask a server for "this commit, N deep", nor for a prefix:
    # a commit id needs the full history of every branch and tag, among
    # which it is then looked up.
    wanted = [s for n, s in refs.items() if _is_branch_or_tag(n)]
    _fetch_wants(client, path, repo, wanted, progress)
    return (_expand(repo, ref)
            or _fetch_unadvertised(client, path, repo, ref, progress))


def _fetch_unadvertised(client: Client, path: str, repo: Repo, ref: str,
                        progress: Progress) -> bytes | None:
    """Fetch a commit no ref points at (local repositories always allow it).

    Servers only give such commits when configured to
    (``uploadpack.allowAnySHA1InWant``); a refusal means "no such ref".
    """
    full = ref if len(ref) == 40 else None
    if isinstance(client, dulwich_client.LocalGitClient):
        with Repo(path) as source:
            full = _expand(source, ref)
            full = full.decode() if full else None
    if full is None:
        return None
    try:
        _fetch_wants(client, path, repo, [full.encode()], progress)
    except (dulwich_errors.GitProtocolError, KeyError):
        return None
    return _expand(repo, ref)


def _fetch_wants(client: Client, path: str, repo: Repo,
                 shas: Iterable[bytes], progress: Progress,
                 depth: int | None = None) -> None:
    """Fetch ``shas`` and what they need that ``repo`` does not have."""
    store = repo.object_store
    missing = sorted({s for s in shas if s not in store})
    if not missing:
        return
    client.fetch(path, repo, determine_wants=lambda refs, depth=None: missing,
                 progress=progress, depth=depth)


def _follow_tags(client: Client, path: str, repo: Repo,
                 refs: Mapping[bytes, bytes],
                 progress: Progress) -> dict[bytes, bytes]:
    """Fetch the tags that point at commits ``repo`` has; return them."""
    store = repo.object_store
    follow = {}
    for name, sha in refs.items():
        if name.startswith(_TAGS) and not name.endswith(_PEELED):
            if refs.get(name + _PEELED, sha) in store:
                follow[name] = sha
    _fetch_wants(client, path, repo, follow.values(), progress)
    return follow


def _remote_refs(client: Client, path: str) -> dict[bytes, bytes]:
    """The remote's refs, with ``<tag>^{}`` entries for annotated tags."""
    refs = {n: s for n, s in client.get_refs(path).refs.items()
            if s is not None}
    if isinstance(client, dulwich_client.LocalGitClient):
        # Network servers advertise what tags peel to; a local one must be
        # asked.
        with Repo(path) as source:
            for name, sha in list(refs.items()):
                if name.startswith(_TAGS):
                    peeled = peel_sha(source.object_store, sha)[1].id
                    if peeled != sha:
                        refs[name + _PEELED] = peeled
    return refs


def _find_ref(refs: Mapping[bytes, bytes],
              ref: str) -> tuple[bytes | None, bytes | None]:
    """The remote ref ``ref`` names, like ``git clone --branch``."""
    name = ref.encode('utf-8')
    if name.startswith(b'refs/'):
        candidates = [name]
    else:
        candidates = [_HEADS + name, _TAGS + name]
        if name == b'HEAD':
            candidates.insert(0, name)
    for candidate in candidates:
        if candidate in refs:
            return candidate, refs[candidate]
    return None, None


def _expand(repo: Repo, ref: str) -> bytes | None:
    """The one object id in ``repo`` starting with ``ref``, if any."""
    if not _COMMIT_ID.fullmatch(ref):
        return None
    if len(ref) == 40:
        return ref.encode() if ref.encode() in repo.object_store else None
    # Like git, an abbreviation need only be unique among commits.
    found = {sha for sha in repo.object_store.iter_prefix(ref.encode())
             if repo.object_store[sha].type_name == b'commit'}
    return found.pop() if len(found) == 1 else None


def _is_branch_or_tag(name: bytes) -> bool:
    return (name.startswith((_HEADS, _TAGS))
            and not name.endswith(_PEELED))


def _write_refs(repo: Repo, url: str, name: bytes | None, commit_id: bytes,
                tags: Mapping[bytes, bytes]) -> None:
    """Record the origin, tags and HEAD as ``git clone`` leaves them."""
    config = repo.get_config()
    config.set((b'remote', b'origin'), b'url', url.encode('utf-8'))
    config.set((b'remote', b'origin'), b'fetch',
               b'+refs/heads/*:refs/remotes/origin/*')
    for tag_name, sha in tags.items():
        repo.refs[tag_name] = sha
    if name is not None and name.startswith(_HEADS):
        branch = name[len(_HEADS):]
        repo.refs[b'refs/remotes/origin/' + branch] = commit_id
        repo.refs[name] = commit_id
        repo.refs.set_symbolic_ref(b'HEAD', name)
        config.set((b'branch', branch), b'remote', b'origin')
        config.set((b'branch', branch), b'merge', name)
    else:
        # A tag or commit id: a detached HEAD, as git leaves it.
        repo.refs.remove_if_equals(b'HEAD', None)
        repo.refs.set_if_equals(b'HEAD', None, commit_id)
    config.write_to_path()


def _make_checkout(dest: Path, url: str, ref: str,
                   commit_id: bytes) -> Checkout:
    with Repo(str(dest)) as repo:
        commit = repo[commit_id]
        tz = datetime.timezone(
            datetime.timedelta(seconds=commit.commit_timezone))
        date = datetime.datetime.fromtimestamp(commit.commit_time, tz)
        version = _source_version(repo, commit_id, dest)
    LOG.info('checked out %s %s at %s (version %s)', url, ref,
             commit_id.decode()[:12], version)
    return Checkout(path=dest, url=url, ref=ref, commit=commit_id.decode(),
                    commit_date=date, source_version=version)


def source_version(path: Path, commit: str | None = None) -> str | None:
    """The version the project's own metadata gives, as pbr would say it.

    The decision, following what ``pip install`` of the checkout reports:

    * A project that uses pbr gets pbr's version from git: the highest
      version tag on the commit; otherwise, from the nearest tagged ancestor
      in ``git log`` order at distance N, that version incremented (patch,
      or what ``Sem-Ver:`` lines ask) as ``.devN`` (``1.2.3`` then two
      commits: ``1.2.4.dev2``).  A static setup.cfg ``version`` is pbr's
      target: ``<version>.devN`` when that is higher.  An untagged pbr
      project counts from ``0``.
    * Otherwise a static ``version`` in pyproject.toml ``[project]`` (not
      listed in ``dynamic``) or setup.cfg ``[metadata]`` (not ``attr:`` or
      ``file:``).
    * Otherwise the pbr-style version from tags, if a version tag exists.
    * Otherwise (and for a shallow checkout that reaches no tag) ``None``.

    :param path: the work tree, a git repository.
    :param commit: the commit to describe (default: HEAD).
    :returns: the version, or ``None`` if the metadata gives none.
    """
    with Repo(str(path)) as repo:
        head = commit.encode() if commit else repo.head()
        return _source_version(repo, head, Path(path))


def _source_version(repo: Repo, head: bytes, path: Path) -> str | None:
    static = _static_version(path)
    if _uses_pbr(path):
        return _pbr_version(repo, head, static, untagged=True) or static
    return static or _pbr_version(repo, head, None, untagged=False)


def _static_version(path: Path) -> str | None:
    """A literal version in pyproject.toml or setup.cfg."""
    pyproject = path / 'pyproject.toml'
    if tomllib is not None and pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text('utf-8')).get(
                'project', {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            LOG.warning('ignoring unreadable %s: %s', pyproject, exc)
            project = {}
        if (isinstance(project, dict) and 'version' in project
                and 'version' not in project.get('dynamic', ())):
            return str(project['version'])
    setup_cfg = path / 'setup.cfg'
    if setup_cfg.is_file():
        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read(setup_cfg, encoding='utf-8')
        except (configparser.Error, UnicodeDecodeError) as exc:
            LOG.warning('ignoring unreadable %s: %s', setup_cfg, exc)
        value = parser.get('metadata', 'version', fallback='').strip()
        if value and not value.startswith(('attr:', 'file:')):
            return value
    return None


def _uses_pbr(path: Path) -> bool:
    for name in ('setup.cfg', 'setup.py', 'pyproject.toml'):
        candidate = path / name
        if candidate.is_file() and _PBR.search(
                candidate.read_text('utf-8', errors='replace')):
            return True
    return False


def _pbr_version(repo: Repo, head: bytes, target: str | None, *,
                 untagged: bool) -> str | None:
    """pbr's ``_get_version_from_git``, reading history with dulwich."""
    tagged = _version_tags(repo)
    distance, last, tag_commit = -1, None, None
    for distance, entry in enumerate(repo.get_walker(include=[head])):
        if entry.commit.id in tagged:
            last, tag_commit = max(tagged[entry.commit.id]), entry.commit.id
            break
    if last is None:
        if not untagged or repo.get_shallow():
            return None
        last = SemanticVersion.from_pip_string('0')
    if distance == 0:
        return last.release_string()
    new = last.increment(**_semver_increment(repo, head, tag_commit))
    new_dev = new.to_dev(distance)
    if target:
        try:
            target_dev = SemanticVersion.from_pip_string(target).to_dev(
                distance)
        except ValueError:
            LOG.warning('setup.cfg version %r is not a version pbr accepts',
                        target)
        else:
            if target_dev > new_dev:
                return target_dev.release_string()
    return new_dev.release_string()


def _version_tags(repo: Repo) -> dict[bytes, list[SemanticVersion]]:
    """Commit id -> the versions its tags spell, as pbr reads tags."""
    tagged: dict[bytes, list[SemanticVersion]] = {}
    for name, sha in repo.refs.as_dict(_TAGS).items():
        candidate = name.decode('utf-8', errors='replace').replace('-', '.')
        try:
            semver = SemanticVersion.from_pip_string(candidate)
            commit_id = peel_sha(repo.object_store, sha)[1].id
        except (ValueError, KeyError):
            continue
        tagged.setdefault(commit_id, []).append(semver)
    return tagged


def _semver_increment(repo: Repo, head: bytes,
                      tag_commit: bytes | None) -> dict[str, bool]:
    """pbr's ``Sem-Ver:`` commit message lines since the tag."""
    symbols = set()
    exclude = [tag_commit] if tag_commit else None
    for entry in repo.get_walker(include=[head], exclude=exclude):
        for line in entry.commit.message.decode('utf-8', 'replace').lower(
                ).splitlines():
            if line.strip().startswith('sem-ver:'):
                symbols.update(s.strip() for s in
                               line.strip()[len('sem-ver:'):].split(','))
    impacts = {'feature': 'minor', 'deprecation': 'minor',
               'api-break': 'major'}
    return {impacts[s]: True for s in symbols if s in impacts}


def _client(source: str, url: str,
            timeout: float) -> tuple[Client, str]:
    """dulwich's client for ``source`` and the path to ask it for."""
    kwargs = {}
    if source.startswith(('http://', 'https://')):
        kwargs['pool_manager'] = dulwich_client.default_urllib3_manager(
            None, timeout=timeout)
    try:
        return dulwich_client.get_transport_and_path(source, **kwargs)
    except (ValueError, dulwich_client.StrangeHostname) as exc:
        raise errors.SourceError(
            f'cannot use git URL {url!r}: {exc}', where=url,
            hint='use an https://, git://, ssh:// or file:// URL or a '
                 'path') from exc


@contextlib.contextmanager
def _transport_errors(url: str) -> Iterator[None]:
    """Turn dulwich's, urllib3's and the OS's errors into SourceError."""
    try:
        yield
    except dulwich_errors.NotGitRepository as exc:
        raise errors.SourceError(
            f'there is no git repository at {url}', where=url,
            hint='check the project\'s git URL; a local path must be an '
                 'existing repository') from exc
    except dulwich_client.StrangeHostname as exc:
        raise errors.SourceError(
            f'refusing the SSH host name in {url!r}: it starts with "-"',
            where=url, hint='check the project\'s git URL') from exc
    except dulwich_client.HTTPUnauthorized as exc:
        raise errors.SourceError(
            'the git server asks for credentials', where=url,
            hint='use a URL that needs no login, or a local mirror') from exc
    except (dulwich_errors.GitProtocolError, OSError,
            urllib3.exceptions.HTTPError) as exc:
        if _is_timeout(exc):
            raise errors.SourceError(
                f'fetching from {url} timed out', where=url,
                hint=GIT_NETWORK_HINT) from exc
        if network_error(exc):
            raise errors.SourceError(
                f'cannot fetch from {url}: the network failed ({exc})',
                where=url, hint=GIT_NETWORK_HINT) from exc
        local = isinstance(exc, OSError) and exc.errno in (
            errno.EMFILE, errno.ENFILE, errno.ENOSPC, errno.EDQUOT,
            errno.ENOMEM, errno.EROFS)
        raise errors.SourceError(
            f'cannot fetch from {url}: {exc}', where=url,
            hint=system_hint(exc) if local else
            'check the URL and that this machine can reach it') from exc


def _is_timeout(exc: BaseException | None) -> bool:
    """Whether a timeout is anywhere in ``exc``'s causes."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        # urllib3's NewConnectionError (e.g. "connection refused") derives
        # from its ConnectTimeoutError, but is no timeout.
        if (isinstance(exc, (TimeoutError, urllib3.exceptions.TimeoutError))
                and not isinstance(exc, urllib3.exceptions.NewConnectionError)):
            return True
        reason = getattr(exc, 'reason', None)
        if isinstance(reason, BaseException) and _is_timeout(reason):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _missing_ref(url: str, ref: str, refs: Mapping[bytes, bytes],
                 offline: bool = False) -> errors.SourceError:
    """A "no such ref" error whose hint lists some refs that exist."""
    branches = sorted(_short(n, _HEADS) for n in refs
                      if n.startswith(_HEADS))
    tags = sorted((_short(n, _TAGS) for n in refs if _is_branch_or_tag(n)
                   and n.startswith(_TAGS)), key=_natural)
    listed = []
    if branches:
        listed.append('branches ' + _some(branches[:_HINT_REFS], branches))
    if tags:
        listed.append('tags ' + _some(tags[-_HINT_REFS:], tags))
    hint = ('available: ' + '; '.join(listed)) if listed else \
        'the repository has no branches or tags'
    if offline:
        return errors.SourceError(
            f'there is no branch, tag or commit {ref!r} in the cache\'s '
            f'mirror of {url} (giftwrap is offline)', where=url,
            hint=f'{OFFLINE_HINT}; in the mirror: {hint}')
    return errors.SourceError(
        f'there is no branch, tag or commit {ref!r} in {url}', where=url,
        hint=hint)


def _short(name: bytes, prefix: bytes) -> str:
    return name[len(prefix):].decode('utf-8', errors='replace')


def _some(shown: list[str], every: list[str]) -> str:
    more = len(every) - len(shown)
    return ', '.join(shown) + (f' (and {more} more)' if more else '')


def _natural(text: str) -> list:
    """Sort key putting ``1.10`` after ``1.9``."""
    return [(0, int(p), '') if p.isdigit() else (1, 0, p)
            for p in re.split(r'(\d+)', text)]


def locked(mirror: Path):
    """The lock fetching holds on ``mirror`` (``giftwrap cache prune``
    takes it before removing the mirror)."""
    return _locked(mirror)


@contextlib.contextmanager
def _locked(mirror: Path) -> Iterator[None]:
    """Hold the mirror's lock file; other giftwrap processes wait."""
    mirror.parent.mkdir(parents=True, exist_ok=True)
    lock = mirror.with_suffix('.lock')
    with open(lock, 'a', encoding='utf-8') as handle:
        LOG.debug('waiting for the lock %s', lock)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _discard(dest: Path, created: bool) -> None:
    """Remove what a failed fetch left in ``dest``."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
    elif dest.is_dir():
        for child in dest.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def _progress_writer(runner: Runner | None) -> Progress:
    """Send dulwich's progress messages to the project's log file."""
    log_file = runner.log_file if runner is not None else None
    if log_file is None:
        return None

    def write(message: bytes) -> None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, 'ab') as log:
            log.write(message)
    return write

"""Make real git repositories for tests, with dulwich only (no git command).

Every helper writes objects and refs straight into the repository, so a test
controls exactly which commits, branches and tags exist.  Commit times are
deterministic (each commit is one minute after its newest parent, the first
at :data:`BASE_TIME`), so commit ids are stable and ``git log``'s date order
is the order the commits were made::

    from tests import gitutil

    first = gitutil.make_repo(tmp_path / 'repo', {'setup.py': 'x'},
                              tags=['1.0.0'])
    second = gitutil.commit(tmp_path / 'repo', {'run.sh': gitutil.File(
        '#!/bin/sh\\n', gitutil.EXECUTABLE)}, 'Add run.sh')
    gitutil.tag(tmp_path / 'repo', '1.1.0', second, message='1.1.0')

``files`` maps a slash-separated path to its content (``str`` is UTF-8
encoded), to a :class:`File` for another mode (executable, symlink), or to
``None`` to delete that path from the parent commit's tree.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
import stat
from typing import Iterable
from typing import Mapping
from typing import Union

from dulwich.objects import Blob
from dulwich.objects import Commit
from dulwich.objects import Tag
from dulwich.objects import Tree
from dulwich import porcelain
from dulwich.repo import Repo

#: The file modes git knows, for :class:`File`.
REGULAR = 0o100644
EXECUTABLE = 0o100755
SYMLINK = 0o120000

#: Committer/author of every commit unless a test gives another.
AUTHOR = 'Giftwrap Tests <tests@example.com>'
#: The time of a root commit (2023-11-14 22:13:20 UTC).
BASE_TIME = 1_700_000_000


@dataclasses.dataclass(frozen=True)
class File:
    """A file's content and mode; for a symlink the content is its target."""

    content: Union[str, bytes]
    mode: int = REGULAR


FileSpec = Union[str, bytes, File, None]


def make_repo(path: Path, files: Mapping[str, FileSpec], *,
              message: str = 'Initial commit', branch: str = 'master',
              tags: Iterable[str] = (), author: str = AUTHOR,
              bare: bool = False) -> str:
    """Create a repository at ``path`` with one commit on ``branch``.

    :param files: the root commit's files (see the module docstring).
    :param tags: lightweight tags to put on that commit.
    :param bare: make a bare repository (no work tree).
    :returns: the commit id (40 hex digits).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    init = Repo.init_bare if bare else Repo.init
    with init(path, default_branch=branch.encode()) as repo:
        repo.refs.set_symbolic_ref(b'HEAD', b'refs/heads/' + branch.encode())
    commit_id = commit(path, files, message, parents=[], branch=branch,
                       author=author)
    for name in tags:
        tag(path, name, commit_id)
    return commit_id


def commit(path: Path, files: Mapping[str, FileSpec],
           message: str = 'Change', *, parents: Iterable[str] | None = None,
           branch: str | None = 'master', author: str = AUTHOR) -> str:
    """Commit ``files`` on top of the first parent's tree.

    :param parents: the parent commit ids; default: the tip of ``branch``
        (none if the branch does not exist yet).
    :param branch: the branch to move to the new commit, or ``None`` to
        leave the commit unreachable from any ref.
    :returns: the new commit id.
    """
    with Repo(str(path)) as repo:
        if parents is None:
            ref = b'refs/heads/' + (branch or '').encode()
            parents = [repo.refs[ref].decode()] if ref in repo.refs else []
        parent_ids = [p.encode() for p in parents]
        base = repo[parent_ids[0]].tree if parent_ids else None
        new = Commit()
        new.tree = _write_tree(repo, base, files)
        new.parents = parent_ids
        new.author = new.committer = author.encode()
        new.commit_time = new.author_time = max(
            [repo[p].commit_time + 60 for p in parent_ids], default=BASE_TIME)
        new.commit_timezone = new.author_timezone = 0
        new.message = message.encode() + b'\n'
        repo.object_store.add_object(new)
        if branch is not None:
            repo.refs[b'refs/heads/' + branch.encode()] = new.id
            _sync_worktree(repo, branch)
        return new.id.decode()


def tag(path: Path, name: str, commit_id: str, *,
        message: str | None = None) -> None:
    """Tag ``commit_id``: lightweight, or annotated when ``message`` is set."""
    with Repo(str(path)) as repo:
        target = commit_id.encode()
        if message is not None:
            obj = Tag()
            obj.name = name.encode()
            obj.object = (Commit, target)
            obj.tagger = AUTHOR.encode()
            obj.tag_time = repo[target].commit_time
            obj.tag_timezone = 0
            obj.message = message.encode() + b'\n'
            repo.object_store.add_object(obj)
            target = obj.id
        repo.refs[b'refs/tags/' + name.encode()] = target


def branch(path: Path, name: str, commit_id: str) -> None:
    """Create or move branch ``name`` to ``commit_id``."""
    with Repo(str(path)) as repo:
        repo.refs[b'refs/heads/' + name.encode()] = commit_id.encode()


def object_count(path: Path) -> int:
    """How many objects the repository's packs and loose files hold.

    Duplicates across packs count twice, so a fetch that re-sent old objects
    shows up as a larger number.
    """
    with Repo(str(path)) as repo:
        store = repo.object_store
        return (sum(len(pack) for pack in store.packs)
                + sum(1 for _ in store._iter_loose_objects()))


def _write_tree(repo: Repo, base: bytes | None,
                files: Mapping[str, FileSpec]) -> bytes:
    """Write ``base`` with ``files`` applied; return the new tree id."""
    root = _read_tree(repo, base)
    for name, spec in files.items():
        parts = name.strip('/').split('/')
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if spec is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = _blob(repo, spec)
    return _store_tree(repo, root)


def _read_tree(repo: Repo, tree_id: bytes | None) -> dict:
    if tree_id is None:
        return {}
    nested: dict = {}
    for entry in repo[tree_id].items():
        name = entry.path.decode()
        if stat.S_ISDIR(entry.mode):
            nested[name] = _read_tree(repo, entry.sha)
        else:
            nested[name] = (entry.mode, entry.sha)
    return nested


def _blob(repo: Repo, spec: FileSpec) -> tuple[int, bytes]:
    if not isinstance(spec, File):
        spec = File(spec)
    data = spec.content.encode() if isinstance(spec.content, str) else spec.content
    blob = Blob.from_string(data)
    repo.object_store.add_object(blob)
    return spec.mode, blob.id


def _store_tree(repo: Repo, node: dict) -> bytes:
    tree = Tree()
    for name, value in node.items():
        if isinstance(value, dict):
            tree.add(name.encode(), stat.S_IFDIR, _store_tree(repo, value))
        else:
            tree.add(name.encode(), value[0], value[1])
    repo.object_store.add_object(tree)
    return tree.id


def _sync_worktree(repo: Repo, branch: str) -> None:
    """Keep a non-bare repository's files in step with its checked-out branch."""
    if repo.bare or repo.refs.read_ref(b'HEAD') != (
            b'ref: refs/heads/' + branch.encode()):
        return
    # A hard reset also deletes the files the new commit removed.
    porcelain.reset(repo, 'hard', repo.refs[b'HEAD'])

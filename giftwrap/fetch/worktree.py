"""Writing a new clone's work tree: git's ``read-tree`` when git is
installed, else dulwich.

dulwich writes a work tree file by file in Python: keystone's 1,500 files
take it 0.5 s, twice that beside the virtualenv being made; ``git
read-tree -u`` writes them in 0.1 s.  giftwrap has fetched the objects and
written the refs by then (with dulwich: the network and the manifest's
values never reach git); git gets only the commit's id and the paths of
the new repository.

Both read only the repository's own configuration: a user's or the
system's ``core.autocrlf``, attributes or filters must not change what
giftwrap builds.  Both refuse a tree that would write into ``.git`` or
through a link it made.  A tree git refuses (or any failure of git) is
written by dulwich, which says what is wrong with it, as without git.

The .gitattributes conversions are git's own (``eol``, ``text``,
``ident``) with git, dulwich's with dulwich: a repository that asks for
them may check out differently on a host without git.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from dulwich.index import InvalidPathError
from dulwich.repo import Repo

from giftwrap import errors
from giftwrap.util.process import Runner, base_environment, find_tool

LOG = logging.getLogger(__name__)

#: git with no configuration but the repository's own, and no prompts.
GIT_ENV = {'GIT_CONFIG_NOSYSTEM': '1', 'GIT_CONFIG_GLOBAL': os.devnull,
           'GIT_ATTR_NOSYSTEM': '1', 'GIT_TERMINAL_PROMPT': '0'}


def write(repo: Repo, commit_id: bytes, url: str,
          runner: Runner | None = None) -> None:
    """Write the work tree and index of ``commit_id`` in the new clone
    ``repo`` (its work tree is empty but for ``.git``) of ``url``.

    :raises giftwrap.errors.SourceError: the tree has a path no checkout
        may write (into ``.git``, or a name Windows reads as ``.git``).
    :raises KeyError, dulwich's errors: the repository is broken (see
        :mod:`giftwrap.fetch.brokenrepo`).
    """
    git = find_tool('git')
    if git is not None and _read_tree(git, Path(repo.path), commit_id,
                                      runner or Runner()):
        return
    try:
        repo.get_worktree().reset_index(config=repo.get_config())
    except InvalidPathError as exc:
        raise errors.SourceError(
            f'commit {commit_id.decode("ascii")} has a file no checkout may '
            f'write: {exc}', where=url,
            hint='a path inside .git (or one Windows or macOS reads as '
                 '.git) would let the repository configure git; the '
                 'repository is broken or malicious: build another '
                 'commit') from exc


def _read_tree(git: str, dest: Path, commit_id: bytes, runner: Runner
               ) -> bool:
    """``git read-tree -u``; False (the work tree emptied again) when git
    fails, for dulwich to try and say why."""
    result = runner.run(
        [git, f'--git-dir={dest / ".git"}', f'--work-tree={dest}',
         'read-tree', '--reset', '-u', commit_id.decode('ascii')],
        env=base_environment(**GIT_ENV), check=False,
        what='git read-tree (work tree)')
    if result.returncode == 0:
        return True
    LOG.info('git could not write the work tree of %s; dulwich tries:\n%s',
             dest, result.tail())
    _empty(dest)
    return False


def _empty(dest: Path) -> None:
    """Remove what git wrote: everything but ``.git``, and its index."""
    for entry in os.scandir(dest):
        if entry.name == '.git':
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    (dest / '.git' / 'index').unlink(missing_ok=True)

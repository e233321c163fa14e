"""The work tree of a clone: git's read-tree, else dulwich, the same files.

Real repositories (made with dulwich), the real git command and dulwich;
"without git" is a PATH on which git is not found, as on a host without it.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.fetch import git
from giftwrap.util.process import Runner, find_tool
from tests import gitutil

pytestmark = pytest.mark.skipif(find_tool('git') is None,
                                reason='git is not installed (apt-get '
                                       'install git)')

FILES = {
    'setup.py': 'import setuptools\nsetuptools.setup()\n',
    'run.sh': gitutil.File('#!/bin/sh\necho run\n', gitutil.EXECUTABLE),
    'etc/a.conf': 'a = 1\r\n',
    'etc/b.conf': gitutil.File('a.conf', gitutil.SYMLINK),
    'pkg/deep/mod.py': 'X = 1\n',
    'pkg/empty.txt': '',
    'pkg/data.bin': bytes(range(256)),
}


def _hide_git(tmp_path: Path, patch: pytest.MonkeyPatch) -> None:
    """A PATH on which git is not found: a host without git."""
    bin_dir = tmp_path / 'no-git-bin'
    bin_dir.mkdir()
    patch.setenv('PATH', str(bin_dir))
    assert find_tool('git') is None


def _tree(root: Path) -> dict[str, tuple]:
    found = {}
    for path in sorted(root.rglob('*')):
        rel = path.relative_to(root).as_posix()
        if rel == '.git' or rel.startswith('.git/'):
            continue
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            found[rel] = ('link', os.readlink(path))
        elif stat.S_ISDIR(mode):
            found[rel] = ('dir',)
        else:
            found[rel] = ('file', mode & 0o111 != 0, path.read_bytes())
    return found


def _fetch(source: Path, dest: Path, cache: Path | None = None):
    log = dest.parent / f'{dest.name}.log'
    checkout = git.fetch(str(source), 'master', dest, cache_dir=cache,
                         runner=Runner(log))
    return checkout, log.read_text() if log.exists() else ''


@pytest.mark.parametrize('cached', [False, True])
def test_git_and_dulwich_write_the_same_work_tree(tmp_path, monkeypatch,
                                                  cached):
    source = tmp_path / 'source'
    commit = gitutil.make_repo(source, FILES, bare=True)
    cache = tmp_path / 'cache' if cached else None
    with_git, log = _fetch(source, tmp_path / 'with-git', cache)
    assert 'read-tree --reset -u ' + commit in log
    with monkeypatch.context() as patch:
        _hide_git(tmp_path, patch)
        without, log = _fetch(source, tmp_path / 'without-git', cache)
    assert 'read-tree' not in log
    assert with_git.commit == without.commit == commit
    expected = _tree(with_git.path)
    assert expected == _tree(without.path)
    assert expected['run.sh'][1] and not expected['setup.py'][1]
    assert expected['etc/b.conf'] == ('link', 'a.conf')
    # git sees both as clean checkouts of the commit: each index is whole
    for checkout in (with_git, without):
        status = subprocess.run(
            ['git', 'status', '--porcelain', '--ignored'], cwd=checkout.path,
            capture_output=True, text=True, check=True)
        assert status.stdout == ''


def test_the_users_git_configuration_does_not_change_the_tree(
        tmp_path, monkeypatch):
    """core.autocrlf=true in ~/.gitconfig would turn LF into CRLF: the
    checkout reads only the repository's own configuration."""
    home = tmp_path / 'home'
    home.mkdir()
    (home / '.gitconfig').write_text('[core]\n\tautocrlf = true\n')
    monkeypatch.setenv('HOME', str(home))
    source = tmp_path / 'source'
    gitutil.make_repo(source, {'setup.py': 'x = 1\ny = 2\n'}, bare=True)
    checkout, log = _fetch(source, tmp_path / 'work')
    assert 'read-tree' in log
    assert (checkout.path / 'setup.py').read_bytes() == b'x = 1\ny = 2\n'


@pytest.mark.parametrize('name', ['.GIT/hooks/post-checkout',
                                  'pkg/.git/config', 'git~1', '.git '])
@pytest.mark.parametrize('has_git', [True, False])
def test_a_path_into_git_is_refused_with_or_without_git(
        tmp_path, monkeypatch, name, has_git):
    """git refuses the tree; dulwich, trying after it (or alone), says
    which path, and nothing is left of the work tree."""
    if not has_git:
        _hide_git(tmp_path, monkeypatch)
    source = tmp_path / 'source'
    commit = gitutil.make_repo(source, {name: 'x', 'setup.py': 'x'},
                               bare=True)
    dest = tmp_path / 'a' / 'work'
    with pytest.raises(errors.SourceError) as caught:
        git.fetch(str(source), 'master', dest,
                  runner=Runner(tmp_path / 'fetch.log'))
    assert f'commit {commit} has a file no checkout may write' in \
        caught.value.what
    assert repr(name) in caught.value.what
    assert caught.value.where == str(source)
    assert 'malicious' in caught.value.hint
    assert not dest.exists()

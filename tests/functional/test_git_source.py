"""giftwrap.fetch.git against real repositories made with dulwich.

The network transport is dulwich's smart HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib.util
import os
import socket
import sys
import threading
import time
import warnings
from wsgiref import simple_server

from dulwich import pack as dulwich_pack
from dulwich.repo import Repo
from dulwich.server import DictBackend
from dulwich import web
import pytest

from giftwrap import errors
from giftwrap.util.process import find_tool
from giftwrap.util.process import Runner
from giftwrap.fetch import git
from tests import gitutil

PBR_FILES = {
    'setup.cfg': '[metadata]\nname = demo\n\n[pbr]\nskip_authors = true\n',
    'setup.py': 'import setuptools\nsetuptools.setup(pbr=True)\n',
}


@pytest.fixture
def source(tmp_path):
    """A pbr project: 1.2.3 (lightweight) - c2 - 1.3.0 (annotated) - c4.

    ``stable/1.2`` branches from c2; ``hidden`` is a commit no ref reaches.
    """
    path = tmp_path / 'source'
    ids = {'c1': gitutil.make_repo(path, PBR_FILES, tags=['1.2.3'])}
    ids['c2'] = gitutil.commit(path, {'demo.py': 'x = 2\n'}, 'Second')
    ids['c3'] = gitutil.commit(path, {'demo.py': 'x = 3\n'}, 'Third')
    gitutil.tag(path, '1.3.0', ids['c3'], message='Release 1.3.0')
    ids['c4'] = gitutil.commit(path, {'demo.py': 'x = 4\n'}, 'Fourth')
    ids['stable'] = gitutil.commit(path, {'fix.py': ''}, 'Fix',
                                   parents=[ids['c2']], branch='stable/1.2')
    ids['hidden'] = gitutil.commit(path, {'secret.py': ''}, 'Hidden',
                                   parents=[ids['c4']], branch=None)
    return path, ids


def _tags(path):
    with Repo(str(path)) as repo:
        return sorted(n.decode() for n in repo.refs.keys(b'refs/tags/'))


def _has(path, commit_id):
    with Repo(str(path)) as repo:
        return commit_id.encode() in repo.object_store


def test_branch_with_tags_and_pbr_version(source, tmp_path):
    path, ids = source
    checkout = git.fetch(str(path), 'master', tmp_path / 'work')
    assert checkout.commit == ids['c4']
    assert checkout.commit_date.utcoffset() is not None
    assert (tmp_path / 'work' / 'demo.py').read_text() == 'x = 4\n'
    assert _tags(checkout.path) == ['1.2.3', '1.3.0']
    # pbr: one commit after the annotated tag 1.3.0.
    assert checkout.source_version == '1.3.1.dev1'
    assert git.needs_git_cli(checkout.path)


@pytest.mark.parametrize('ref, commit, version', [
    ('1.2.3', 'c1', '1.2.3'),
    ('1.3.0', 'c3', '1.3.0'),
    ('refs/tags/1.3.0', 'c3', '1.3.0'),
    ('stable/1.2', 'stable', '1.2.4.dev2'),
    ('refs/heads/stable/1.2', 'stable', '1.2.4.dev2'),
])
def test_tags_and_branches(source, tmp_path, ref, commit, version):
    path, ids = source
    checkout = git.fetch(str(path), ref, tmp_path / 'work')
    assert checkout.commit == ids[commit]
    assert checkout.source_version == version


@pytest.mark.parametrize('length', [40, 7])
def test_commit_id(source, tmp_path, length):
    path, ids = source
    checkout = git.fetch(f'file://{path}', ids['c2'][:length],
                         tmp_path / 'work')
    assert checkout.commit == ids['c2']
    assert checkout.source_version == '1.2.4.dev1'


@pytest.mark.parametrize('length', [40, 10])
def test_unreachable_commit_of_local_repo(source, tmp_path, length):
    path, ids = source
    checkout = git.fetch(str(path), ids['hidden'][:length], tmp_path / 'w',
                         cache_dir=tmp_path / 'cache')
    assert checkout.commit == ids['hidden']
    assert (tmp_path / 'w' / 'secret.py').exists()


def test_depth_fetches_only_recent_history(source, tmp_path):
    path, ids = source
    checkout = git.fetch(str(path), '1.3.0', tmp_path / 'work', depth=1)
    assert checkout.commit == ids['c3']
    assert _has(checkout.path, ids['c3'])
    assert not _has(checkout.path, ids['c2'])
    assert (tmp_path / 'work' / '.git' / 'shallow').read_text().split() == [
        ids['c3']]
    # Only the tag on the fetched commit came along; it is the version.
    assert _tags(checkout.path) == ['1.3.0']
    assert checkout.source_version == '1.3.0'


def test_cache_is_reused_and_fetched_incrementally(source, tmp_path):
    path, ids = source
    cache = tmp_path / 'cache'
    first = git.fetch(str(path), 'master', tmp_path / 'w1', cache_dir=cache)
    mirror = git.mirror_path(cache, str(path))
    assert mirror.is_dir() and first.commit == ids['c4']
    before = gitutil.object_count(mirror)
    new = gitutil.commit(path, {'demo.py': 'x = 5\n'}, 'Fifth')
    second = git.fetch(str(path), 'master', tmp_path / 'w2', cache_dir=cache)
    assert second.commit == new
    # Only the new commit, its tree and its one changed blob were fetched.
    assert gitutil.object_count(mirror) == before + 3
    assert sorted(os.listdir(cache / 'git')) == sorted(
        [mirror.name, mirror.with_suffix('.lock').name])


@contextlib.contextmanager
def _frames_held(module):
    """Keep every frame of ``module``'s functions, in this thread, alive.

    What a sampling profiler does for a moment, deterministically: Dask
    distributed's worker profiler holds ``sys._current_frames()`` while it
    walks them, and a function that returns meanwhile keeps its locals.
    """
    held = []
    previous = sys.getprofile()

    def keep(frame, event, arg):
        if event == 'call' and frame.f_code.co_filename == module.__file__:
            held.append(frame)

    sys.setprofile(keep)
    try:
        yield held
    finally:
        sys.setprofile(previous)
        held.clear()


def _mapped(path):
    """The files under ``path`` this process maps (Linux)."""
    with open('/proc/self/maps') as maps:
        return {line.split()[-1] for line in maps if str(path) in line}


def test_mirror_update_while_a_profiler_holds_dulwich_frames(source,
                                                             tmp_path):
    # dulwich 1.2.13+ left a view of the new pack's mapping in a held
    # frame and failed closing it: "BufferError: cannot close exported
    # pointers exist" (under the dask executor, at random).
    path, ids = source
    cache = tmp_path / 'cache'
    git.fetch(str(path), 'master', tmp_path / 'w1', cache_dir=cache)
    mirror = git.mirror_path(cache, str(path))
    before = gitutil.object_count(mirror)
    new = gitutil.commit(path, {'demo.py': 'x = 5\n'}, 'Fifth')
    with warnings.catch_warnings():
        warnings.simplefilter('error', ResourceWarning)
        with _frames_held(dulwich_pack) as held:
            second = git.fetch(str(path), 'master', tmp_path / 'w2',
                               cache_dir=cache)
            assert held, 'no dulwich.pack frame was held'
    assert second.commit == new
    assert gitutil.object_count(mirror) == before + 3
    assert sorted(p.name for p in (mirror / 'objects' / 'pack').iterdir()
                  if not p.name.startswith('pack-')) == []
    if find_tool('git') is not None:
        Runner().run(['git', 'fsck', '--strict'], cwd=mirror,
                     what='git fsck of the mirror')
    # The mappings went with the last frame that viewed them.
    assert not _mapped(mirror)


def test_a_pack_that_cannot_be_unmapped_is_a_source_error(source, tmp_path,
                                                          monkeypatch):
    close = getattr(dulwich_pack, '_close_file_contents', None)
    if close is None:
        pytest.skip('this dulwich maps no pack')
    # Without giftwrap's fix (as a dulwich to come might need another).
    monkeypatch.setattr(dulwich_pack, '_close_file_contents',
                        getattr(close, '__wrapped__', close))
    path, ids = source
    cache = tmp_path / 'cache'
    git.fetch(str(path), 'master', tmp_path / 'w1', cache_dir=cache)
    new = gitutil.commit(path, {'demo.py': 'x = 5\n'}, 'Fifth')
    mirror = git.mirror_path(cache, str(path))
    try:
        with _frames_held(dulwich_pack):
            git.fetch(str(path), 'master', tmp_path / 'w2', cache_dir=cache)
    except errors.SourceError as exc:
        caught = exc
    else:
        pytest.skip('this dulwich leaves no view of a pack behind: '
                    'giftwrap.fetch.packmaps may go')
    assert caught.what.startswith(
        f'dulwich could not close its mapping of a pack file of the '
        f'cache\'s mirror {mirror}: ')
    assert 'BufferError' not in caught.what
    assert caught.hint.startswith('nothing is damaged')
    assert isinstance(caught.__cause__, BufferError)
    assert not (tmp_path / 'w2').exists()
    gc.collect()
    # The mirror's refs did not move; building again fetches the commit.
    again = git.fetch(str(path), 'master', tmp_path / 'w3', cache_dir=cache)
    assert again.commit == new
    if find_tool('git') is not None:
        Runner().run(['git', 'fsck', '--strict'], cwd=mirror,
                     what='git fsck of the mirror')
    # The pack left unclosed on purpose (its error's traceback holds it):
    # collected here, not as a ResourceWarning in a later test.
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ResourceWarning)
        del caught
        gc.collect()


def test_cache_waits_for_the_lock(source, tmp_path):
    path, ids = source
    cache = tmp_path / 'cache'
    lock = git.mirror_path(cache, str(path)).with_suffix('.lock')
    lock.parent.mkdir(parents=True)
    done = []
    with open(lock, 'a') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: done.append(git.fetch(
            str(path), 'master', tmp_path / 'work', cache_dir=cache)))
        worker.start()
        time.sleep(0.5)
        assert not done, 'fetched while another process held the lock'
        fcntl.flock(handle, fcntl.LOCK_UN)
    worker.join(timeout=30)
    assert done and done[0].commit == ids['c4']


def test_missing_ref_lists_what_exists(source, tmp_path):
    path, _ = source
    with pytest.raises(errors.SourceError) as caught:
        git.fetch(str(path), 'no-such-branch', tmp_path / 'work')
    assert caught.value.where == str(path)
    assert "'no-such-branch'" in caught.value.what
    assert 'master' in caught.value.hint and '1.3.0' in caught.value.hint
    assert not (tmp_path / 'work').exists()


def test_missing_repository(tmp_path):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(errors.SourceError) as caught:
        git.fetch(missing, 'master', tmp_path / 'work')
    assert caught.value.where == missing
    assert 'no git repository' in caught.value.what


def test_injected_options_are_only_names(source, tmp_path):
    path, _ = source
    marker = tmp_path / 'pwned'
    injected = f'--upload-pack=touch {marker}'
    with pytest.raises(errors.SourceError, match='no branch, tag or commit'):
        git.fetch(str(path), injected, tmp_path / 'w1')
    with pytest.raises(errors.SourceError, match='no git repository'):
        git.fetch(injected, 'master', tmp_path / 'w2')
    with pytest.raises(errors.SourceError, match='SSH host') as caught:
        git.fetch('ssh://-oProxyCommand=touch%20pwned/repo', 'master',
                  tmp_path / 'w3')
    assert not marker.exists()
    assert caught.value.__cause__ is not None


def test_symlinks_inside_stay_symlinks(tmp_path):
    path = tmp_path / 'source'
    gitutil.make_repo(path, {
        'etc/a.conf': 'x\n',
        'etc/b.conf': gitutil.File('a.conf', gitutil.SYMLINK),
        'run.sh': gitutil.File('#!/bin/sh\n', gitutil.EXECUTABLE)})
    work = tmp_path / 'a' / 'work'
    git.fetch(str(path), 'master', work)
    assert os.readlink(work / 'etc' / 'b.conf') == 'a.conf'
    assert os.access(work / 'run.sh', os.X_OK)


@pytest.mark.parametrize('name,target', [
    ('abs', 'OUTSIDE'), ('rel', '../../outside.txt'), ('etc', '/etc')])
def test_symlinks_pointing_outside_are_refused(tmp_path, name, target):
    outside = tmp_path / 'outside.txt'
    outside.write_text('untouched')
    path = tmp_path / 'source'
    gitutil.make_repo(path, {
        name: gitutil.File(target.replace('OUTSIDE', str(outside)),
                           gitutil.SYMLINK),
        'setup.py': 'x'})
    work = tmp_path / 'a' / 'work'
    with pytest.raises(errors.SourceError, match='point outside it') as info:
        git.fetch(str(path), 'master', work)
    assert f'{name} -> ' in info.value.what
    assert not work.exists()
    assert outside.read_text() == 'untouched'


def test_no_unclosed_repositories(source, tmp_path):
    path, _ = source
    # Earlier tests' garbage first: collected inside the block, it would
    # warn here (seen twice in CI, three warnings not about this test).
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        git.fetch(str(path), 'master', tmp_path / 'w', depth=2,
                  cache_dir=tmp_path / 'cache')
        with pytest.raises(errors.SourceError):
            git.fetch(str(path), 'nope', tmp_path / 'w2')
        gc.collect()
    leaks = [str(w.message) for w in caught
             if issubclass(w.category, ResourceWarning)
             and str(tmp_path) in str(w.message)]
    assert not leaks, leaks


def test_dest_must_be_empty(source, tmp_path):
    path, _ = source
    (tmp_path / 'work').mkdir()
    (tmp_path / 'work' / 'keep').write_text('')
    with pytest.raises(errors.SourceError, match='not empty'):
        git.fetch(str(path), 'master', tmp_path / 'work')
    assert (tmp_path / 'work' / 'keep').exists()


@pytest.fixture
def http_url(source):
    """The source repository served over smart HTTP on 127.0.0.1."""
    path, _ = source
    repo = Repo(str(path))
    app = web.make_wsgi_chain(DictBackend({'/': repo}))
    server = simple_server.make_server(
        '127.0.0.1', 0, app, handler_class=web.WSGIRequestHandlerLogger,
        server_class=web.WSGIServerLogger)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                              daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_port}/'
    server.shutdown()
    server.server_close()
    thread.join()
    repo.close()


def test_http_transport_with_cache(source, http_url, tmp_path):
    path, ids = source
    cache = tmp_path / 'cache'
    first = git.fetch(http_url, '1.3.0', tmp_path / 'w1', cache_dir=cache)
    assert first.commit == ids['c3'] and first.source_version == '1.3.0'
    mirror = git.mirror_path(cache, http_url)
    before = gitutil.object_count(mirror)
    new = gitutil.commit(path, {'demo.py': 'x = 5\n'}, 'Fifth')
    second = git.fetch(http_url, 'master', tmp_path / 'w2', cache_dir=cache)
    assert second.commit == new and second.source_version == '1.3.1.dev2'
    assert gitutil.object_count(mirror) == before + 3


def test_http_shallow_without_cache(source, http_url, tmp_path):
    path, ids = source
    checkout = git.fetch(http_url, 'master', tmp_path / 'w', depth=1)
    assert checkout.commit == ids['c4']
    assert not _has(checkout.path, ids['c3'])
    assert checkout.source_version is None  # no tag within reach


def test_http_missing_ref_and_closed_port(http_url, tmp_path):
    with pytest.raises(errors.SourceError, match='no branch') as caught:
        git.fetch(http_url, 'nope', tmp_path / 'w1')
    assert 'master' in caught.value.hint
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    with pytest.raises(errors.SourceError, match='cannot fetch') as caught:
        git.fetch(f'http://127.0.0.1:{port}/repo', 'master', tmp_path / 'w2',
                  timeout=5)
    # a refused connection is the network's failure, and says what to do
    assert 'the network failed' in caught.value.what
    assert 'giftwrap fetch' in caught.value.hint
    assert '--offline' in caught.value.hint


def test_http_offline_uses_the_mirror_as_it_is(source, http_url, tmp_path):
    path, ids = source
    cache = tmp_path / 'cache'
    git.fetch(http_url, 'master', tmp_path / 'w1', cache_dir=cache)
    gitutil.commit(path, {'demo.py': 'x = 5\n'}, 'Fifth')
    # the server has a new commit, which offline never sees
    assert git.remote_state(http_url, 'master', cache,
                            offline=True)[0] == ids['c4']
    offline = git.fetch(http_url, 'master', tmp_path / 'w2', cache_dir=cache,
                        offline=True)
    assert offline.commit == ids['c4']
    with pytest.raises(errors.SourceError) as caught:
        git.fetch(http_url, 'stable/9', tmp_path / 'w3', cache_dir=cache,
                  offline=True)
    assert 'mirror' in caught.value.what and 'offline' in caught.value.what
    assert 'giftwrap fetch' in caught.value.hint
    assert 'master' in caught.value.hint  # what the mirror has
    with pytest.raises(errors.SourceError, match='no mirror'):
        git.fetch(http_url, 'master', tmp_path / 'w4',
                  cache_dir=tmp_path / 'empty', offline=True)


def test_http_timeout(tmp_path):
    with socket.socket() as silent:
        # Accepts connections (the kernel's backlog) but never answers.
        silent.bind(('127.0.0.1', 0))
        silent.listen(8)
        url = f'http://127.0.0.1:{silent.getsockname()[1]}/repo'
        with pytest.raises(errors.SourceError, match='timed out'):
            git.fetch(url, 'master', tmp_path / 'work', timeout=0.3)


def _merge_history(path):
    """1.0.0, a side branch merged after the annotated tag 1.1.0."""
    gitutil.make_repo(path, PBR_FILES, tags=['1.0.0'])
    side = gitutil.commit(path, {'b': '1'}, 'Side', branch='side')
    main = gitutil.commit(path, {'a': '1'}, 'Main\n\nSem-Ver: feature')
    gitutil.tag(path, '1.1.0', main, message='1.1.0')
    gitutil.commit(path, {'a': '2', 'b': '1'}, 'Merge', parents=[main, side])
    gitutil.commit(path, {'a': '3'}, 'After\n\nSem-Ver: feature')


def _target_version(path):
    """A setup.cfg version above the last tag (pbr's pre-versioning)."""
    files = dict(PBR_FILES, **{
        'setup.cfg': '[metadata]\nname = demo\nversion = 2.0.0\n[pbr]\n'})
    gitutil.make_repo(path, files, tags=['1.2.3'])
    gitutil.commit(path, {'a': '1'}, 'One')


@pytest.mark.parametrize('history', [_merge_history, _target_version])
def test_source_version_is_what_pbr_says(tmp_path, history):
    # setup.py runs in a child; importing setuptools here would clash with
    # a stdlib distutils another test's library already imported
    for needed in ('pbr', 'setuptools'):
        if importlib.util.find_spec(needed) is None:
            pytest.skip(f'{needed} is not installed')
    if find_tool('git') is None:
        pytest.skip('pbr needs the git command')
    history(tmp_path / 'source')
    checkout = git.fetch(str(tmp_path / 'source'), 'master', tmp_path / 'w')
    result = Runner().run([sys.executable, 'setup.py', '-q', '--version'],
                          cwd=checkout.path, what='pbr version')
    assert checkout.source_version == result.output.strip().splitlines()[-1]


def test_remote_state_names_the_commit_without_a_checkout(source, tmp_path):
    path, ids = source
    cache = tmp_path / 'cache'
    commit, tags = git.remote_state(str(path), 'master', cache)
    assert commit == ids['c4']
    assert git.remote_state(str(path), 'stable/1.2', cache)[0] == ids['stable']
    assert git.remote_state(str(path), '1.3.0', cache)[0] == ids['c3']
    assert git.remote_state(str(path), ids['c2'][:10], cache)[0] == ids['c2']
    assert git.remote_state(str(path), 'no-such-branch', cache) is None
    gitutil.tag(path, '1.4.0', ids['c4'])
    assert git.remote_state(str(path), 'master', cache) != (commit, tags)
    assert git.remote_state(str(path), 'master', cache)[0] == commit
    # fetch after it need not ask the remote again
    checkout = git.fetch(str(path), 'master', tmp_path / 'wt',
                         cache_dir=cache, refresh=False)
    assert checkout.commit == commit

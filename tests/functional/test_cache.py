"""giftwrap cache list / prune, and work directories of killed runs.

Real parts: a git mirror made by git, uv's own cache filled by a real
``uv pip install``, pip's ``cache purge``, a real process killed with
SIGKILL while it holds a work directory, flock between threads.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.util import cache
from giftwrap.util.process import Runner
from giftwrap.fetch import git
from tests import httpserver, projectutil
from tests.cli import giftwrap
from tests.packageutil import need

OLD = time.time() - 40 * 86400


def old(path: Path) -> Path:
    os.utime(path, (OLD, OLD))
    return path


def write(path: Path, text: str = 'x') -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def filled(tmp_path) -> Path:
    """A cache with an old and a new entry of several kinds."""
    need('git')
    root = tmp_path / 'cache'
    source = tmp_path / 'src'
    Runner().run(['git', 'init', '-q', str(source)])
    Runner().run(['git', '-C', str(source), '-c', 'user.name=t', '-c',
                  'user.email=t@example.invalid', 'commit', '-q',
                  '--allow-empty', '-m', 'one'])
    for url, age in (('https://example.invalid/old', OLD), (str(source), None)):
        mirror = git.mirror_path(root, url)
        Runner().run(['git', 'clone', '-q', '--mirror', str(source),
                      str(mirror)])
        if age:
            for each in [mirror, *mirror.iterdir()]:
                old(each)
    for kind in ('bytecode/ab', 'bindep', 'build-requirements/pip', 'http',
                 'resolvers/gerrit-logs', 'wheelhouse', 'discover'):
        old(write(root / kind / 'old-entry'))
        write(root / kind / 'new-entry')
    old_log = write(root / 'logs' / '20250101-000000-1' / 'hello.log')
    old(old_log), old(old_log.parent)
    write(root / 'logs' / '20261201-000000-2' / 'hello.log')
    write(root / 'virtualenv' / 'wheel' / '3.11' / 'pip.whl')
    return root


def rows(*argv: str) -> dict[str, dict]:
    status, stdout, stderr = giftwrap(*argv, '-f', 'json')
    assert status == 0, stderr
    return {row['Kind']: row for row in json.loads(stdout)}


def test_list_shows_every_kind_with_its_size(filled):
    listed = rows('cache', 'list', '--cache-dir', str(filled))
    assert set(listed) == set(cache.KINDS)
    assert listed['git']['Entries'] == 2
    assert listed['logs']['Entries'] == 2
    assert listed['bytecode']['Entries'] == 2
    assert listed['discover']['Entries'] == 2
    assert listed['resolvers']['Entries'] == 4  # http and resolvers
    assert listed['virtualenv']['Entries'] == 1
    assert listed['wheelhouse']['Path'] == str(filled / 'wheelhouse')
    assert listed['pip']['Entries'] == 0 and listed['pip']['Size'] == '0 B'
    assert listed['bindep']['Oldest'].startswith(
        time.strftime('%Y-%m-%d', time.localtime(OLD)))


def test_prune_older_than_keeps_the_new(filled, caplog):
    caplog.set_level(logging.WARNING)
    pruned = rows('cache', 'prune', '--cache-dir', str(filled),
                  '--older-than', '30d', '--kind', 'git,bytecode',
                  '--kind', 'logs', '--kind', 'resolvers,discover')
    assert {k: r['Removed'] for k, r in pruned.items()} == {
        'git': 1, 'bytecode': 1, 'logs': 1, 'resolvers': 2, 'discover': 1}
    assert not (filled / 'bytecode' / 'ab' / 'old-entry').exists()
    assert (filled / 'bytecode' / 'ab' / 'new-entry').exists()
    assert not git.mirror_path(filled, 'https://example.invalid/old').exists()
    assert git.mirror_path(filled, str(filled.parent / 'src')).is_dir()
    assert sorted(p.name for p in (filled / 'logs').iterdir()) == [
        '20261201-000000-2']
    assert (filled / 'bindep' / 'old-entry').exists()  # not asked for
    assert 'breaks' not in caplog.text
    assert '--offline builds and warm reuse need them' in caplog.text


def test_prune_everything_uses_uv_and_pip(filled, tmp_path):
    need('uv')
    # pip's layout, purged by pip itself
    write(filled / 'pip' / 'http-v2' / 'a' / 'b' / 'entry')
    write(filled / 'pip' / 'wheels' / 'ab' / 'cd' / 'demo-1.0-py3-none-any.whl')
    env = dict(os.environ, UV_CACHE_DIR=str(filled / 'uv'), UV_OFFLINE='1')
    Runner().run(['uv', 'pip', 'install', '--python', sys.executable,
                  '--target', str(tmp_path / 'target'),
                  str(make_wheel(tmp_path))], env=env)
    before = rows('cache', 'list', '--cache-dir', str(filled), '--kind', 'uv')
    assert before['uv']['Entries'] > 0
    pruned = rows('cache', 'prune', '--cache-dir', str(filled),
                  '--kind', 'uv,pip,virtualenv')
    assert {k: r['Left'] for k, r in pruned.items()} == {
        'uv': 0, 'pip': 0, 'virtualenv': 0}
    assert pruned['uv']['Removed'] == before['uv']['Entries']
    assert not (filled / 'virtualenv').exists()


def make_wheel(directory: Path) -> Path:
    """A minimal valid wheel (uv unpacks it into its cache)."""
    wheel = directory / 'cached_demo-1.0-py3-none-any.whl'
    files = {'cached_demo.py': 'VALUE = 1\n',
             'cached_demo-1.0.dist-info/METADATA':
                 'Metadata-Version: 2.1\nName: cached-demo\nVersion: 1.0\n',
             'cached_demo-1.0.dist-info/WHEEL':
                 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n'
                 'Tag: py3-none-any\n'}
    record = ''.join(f'{name},,\n' for name in files)
    files['cached_demo-1.0.dist-info/RECORD'] = \
        record + 'cached_demo-1.0.dist-info/RECORD,,\n'
    with zipfile.ZipFile(wheel, 'w') as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def test_bad_kind_and_age_are_refused(filled):
    status, _, stderr = giftwrap('cache', 'prune', '--cache-dir', str(filled),
                                 '--kind', 'gits')
    assert status != 0 and 'no cache kind gits' in stderr
    assert 'the kinds are git, pip' in stderr
    status, _, stderr = giftwrap('cache', 'prune', '--cache-dir', str(filled),
                                 '--older-than', '30 days')
    assert status != 0 and "'30 days' is not an age" in stderr
    assert 'Traceback' not in stderr
    assert (filled / 'bindep' / 'old-entry').exists()


def test_prune_waits_for_a_running_build(filled):
    finished = threading.Event()

    def prune():
        cache.prune(filled, [cache.KINDS['bindep']], None, Runner())
        finished.set()

    with cache.in_use(filled, filled / 'work' / 'live-run'):
        thread = threading.Thread(target=prune)
        thread.start()
        time.sleep(1)
        assert not finished.is_set()
        assert (filled / 'bindep' / 'new-entry').exists()
    thread.join(60)
    assert finished.is_set()
    assert not (filled / 'bindep').exists() or \
        not any((filled / 'bindep').iterdir())


_HOLDER = '''
import sys, time
from pathlib import Path
from giftwrap.util import cache
with cache.in_use(Path(sys.argv[1]), Path(sys.argv[2])):
    print('holding', flush=True)
    time.sleep(600)
'''


def test_work_of_a_killed_run_is_removed_by_the_next(tmp_path):
    root = tmp_path / 'cache'
    killed, live = root / 'work' / 'killed-run', root / 'work' / 'live-run'
    holders = []
    for work in (killed, live):
        holder = subprocess.Popen([sys.executable, '-c', _HOLDER, str(root),
                                   str(work)], stdout=subprocess.PIPE,
                                  text=True)
        assert holder.stdout.readline() == 'holding\n'
        write(work / 'venv' / 'big-file')
        holders.append(holder)
    kept = write(root / 'work' / 'kept-run' / cache.KEEP).parent
    try:
        holders[0].send_signal(signal.SIGKILL)
        holders[0].wait()
        with cache.in_use(root, root / 'work' / 'next-run'):
            assert sorted(p.name for p in (root / 'work').iterdir()) == [
                'kept-run', 'live-run', 'next-run']
    finally:
        holders[1].kill()
        holders[1].wait()
    # --kind work (once no build runs): what no run holds, kept or not.
    cache.prune(root, [cache.KINDS['work']], None, Runner())
    assert list((root / 'work').iterdir()) == []
    assert not kept.exists()


def test_a_work_dir_in_use_is_refused(tmp_path):
    work = tmp_path / 'work'
    with cache.in_use(tmp_path / 'cache', work):
        with pytest.raises(errors.BuildError, match='another giftwrap run'):
            with cache.in_use(tmp_path / 'cache', work):
                pass


def test_keep_work_survives_the_next_run(tmp_path):
    root = tmp_path / 'cache'
    kept, elsewhere = root / 'work' / 'kept-run', tmp_path / 'my-work'
    with cache.in_use(root, kept, keep=True):
        pass
    with cache.in_use(root, elsewhere, keep=True):
        pass
    assert not (elsewhere / cache.KEEP).exists()  # only the cache's own
    with cache.in_use(root, root / 'work' / 'next-run'):
        assert (kept / cache.KEEP).is_file()


def test_a_killed_build_s_work_dir_is_removed_by_the_next_build(tmp_path):
    """SIGKILL to a real build's whole process group (as the OOM killer or
    a lost machine would), then a second build."""
    repo = tmp_path / 'hello-app'
    projectutil.pinned_repo(repo)
    root, out = tmp_path / 'cache', tmp_path / 'out'
    manifest = tmp_path / 'manifest.yml'
    argv = ['giftwrap', 'build', '-m', str(manifest), '-o', str(out),
            '--cache-dir', str(root)]
    with httpserver.LoopbackServer(hang_limit=60) as server:
        url = server.hang('/hang/slow-1.0.tar.gz')
        manifest.write_text(textwrap.dedent(f"""
            settings:
              version: '1.0-1'
              builders: [nfpm-deb]
              resolver: requirements-file
            projects:
              - name: hello-app
                giturl: {repo}
                pip_dependencies: ['slow @ {url}']
            """))
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while not server.hits('/hang/slow-1.0.tar.gz'):
                assert proc.poll() is None
                assert time.monotonic() < deadline, 'pip never asked'
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    abandoned, = (root / 'work').iterdir()
    assert any(abandoned.rglob('*'))
    # The next build fails (the server is gone) but first tidies up.
    second = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert second.returncode != 0
    assert not abandoned.exists(), second.stderr
    assert list((root / 'work').iterdir()) == []


def _commit(source: Path, message: str) -> str:
    (source / 'file.txt').write_text(message)
    Runner().run(['git', '-C', str(source), 'add', 'file.txt'])
    Runner().run(['git', '-C', str(source), '-c', 'user.name=t', '-c',
                  'user.email=t@example.invalid', 'commit', '-q', '-m',
                  message])
    return Runner().run(['git', '-C', str(source), 'rev-parse',
                         'HEAD']).output.strip()


def test_prune_repacks_the_mirrors_it_keeps(tmp_path, caplog):
    """A mirror fetched once per new commit (one pack per fetch, as
    dulwich writes them) is repacked into one; a commit no ref reaches any
    more stays, for an offline build of a lock file that pins it; the
    mirror keeps the age of its last fetch."""
    need('git')
    root, source = tmp_path / 'cache', tmp_path / 'src'
    Runner().run(['git', 'init', '-q', '-b', 'main', str(source)])
    _commit(source, 'one')
    Runner().run(['git', '-C', str(source), 'checkout', '-q', '-b', 'gone'])
    orphan = _commit(source, 'only on a branch deleted upstream')
    Runner().run(['git', '-C', str(source), 'checkout', '-q', 'main'])
    url = str(source)
    for n in range(4):
        _commit(source, f'change {n}')
        git.fetch(url, 'main', tmp_path / f'checkout-{n}', cache_dir=root)
    Runner().run(['git', '-C', str(source), 'branch', '-q', '-D', 'gone'])
    git.fetch(url, 'main', tmp_path / 'checkout-last', cache_dir=root)
    mirror = git.mirror_path(root, url)
    assert Runner().run(['git', f'--git-dir={mirror}', 'for-each-ref',
                         '--contains', orphan]).output == ''
    assert len(list((mirror / 'objects' / 'pack').glob('*.pack'))) == 4
    fetched = int(time.time()) - 5 * 86400
    for each in [mirror, *mirror.iterdir()]:
        os.utime(each, (fetched, fetched))
    before = rows('cache', 'list', '--cache-dir', str(root))['git']

    caplog.set_level(logging.INFO)
    pruned = rows('cache', 'prune', '--cache-dir', str(root),
                  '--older-than', '10d', '--kind', 'git')
    assert pruned['git']['Removed'] == 0 and pruned['git']['Left'] == 1
    assert 'repacked the' in caplog.text
    assert len(list((mirror / 'objects' / 'pack').glob('*.pack'))) == 1
    after = rows('cache', 'list', '--cache-dir', str(root))['git']
    assert (after['Entries'], after['Oldest']) == (1, before['Oldest'])
    assert pruned['git']['Freed'] != '0 B'  # thin packs completed each time
    assert mirror.stat().st_mtime == fetched
    assert (mirror / 'refs' / 'tags').is_dir()  # a kept mirror's own dirs
    checkout = git.fetch(url, orphan, tmp_path / 'offline', cache_dir=root,
                         offline=True)
    assert checkout.commit == orphan
    assert (tmp_path / 'offline' / 'file.txt').read_text() == \
        'only on a branch deleted upstream'


def test_a_mirror_git_cannot_repack_is_left(tmp_path, caplog, monkeypatch):
    """A damaged pack: git's failure is logged, the mirror is left as it
    was (its next fetch reports it), and prune succeeds; without git the
    packs stay too."""
    need('git')
    root, source = tmp_path / 'cache', tmp_path / 'src'
    Runner().run(['git', 'init', '-q', '-b', 'main', str(source)])
    for n in range(2):
        _commit(source, f'change {n}')
        git.fetch(str(source), 'main', tmp_path / f'checkout-{n}',
                  cache_dir=root)
    mirror = git.mirror_path(root, str(source))
    from giftwrap.fetch import repack
    monkeypatch.setenv('PATH', str(tmp_path / 'no-tools'))
    caplog.set_level(logging.INFO)
    assert repack.find_tool('git') is None
    assert not repack.repack(mirror, Runner())
    assert 'git is not installed: the 2 packs' in caplog.text
    monkeypatch.undo()
    packs = sorted((mirror / 'objects' / 'pack').glob('*.pack'))
    assert len(packs) == 2
    packs[0].write_bytes(packs[0].read_bytes()[:40])
    status, _, stderr = giftwrap('cache', 'prune', '--cache-dir', str(root),
                                 '--older-than', '10d', '--kind', 'git')
    assert status == 0, stderr
    assert 'could not repack' in caplog.text
    assert sorted((mirror / 'objects' / 'pack').glob('*.pack')) == packs

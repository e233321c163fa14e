"""The dpkg-deb builder with the real dpkg-deb: nfpm-deb's package.

The staged trees and descriptions are test_packages' (a hand-made
virtualenv, :func:`giftwrap.package.description.describe` with a service, scripts,
sudoers and documentation files); nfpm-deb builds the same tree to compare.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from giftwrap import testing
from giftwrap.builders import dpkgdeb, nfpm
from giftwrap.util.process import Runner, find_tool
from tests import projectutil
from tests.functional.test_nfpm import dpkg, need, run
from tests.functional.test_packages import (build, findings, forget_account,
                                            need_root_dpkg, service_fields)

pytestmark = pytest.mark.skipif(find_tool('nfpm') is None,
                                reason='nfpm is not installed')


@pytest.fixture
def name() -> str:
    """A package name (and account name) no other run uses."""
    need('dpkg-deb')
    return f'giftwrap-test-{uuid.uuid4().hex[:10]}'


@pytest.fixture(autouse=True)
def same_time(monkeypatch):
    """nfpm reads SOURCE_DATE_EPOCH from the environment, dpkg-deb from
    the context (testing.EPOCH): the same, so times compare too."""
    monkeypatch.setenv('SOURCE_DATE_EPOCH', str(testing.EPOCH))


def fields(tmp_path: Path, name: str) -> dict:
    return dict(service_fields(tmp_path, name),
                conflicts=('hello-old', 'hello-legacy >= 2'),
                provides=('hello-api = 10',), replaces=('hello-old < 3',),
                description='First paragraph.\n\nSecond paragraph.')


def both(tmp_path: Path, name: str, **options):
    """The same manifest built by nfpm-deb and by dpkg-deb."""
    made = fields(tmp_path, name)
    return [build(builder, tmp_path / builder.__name__, name,
                  manifest_dir=tmp_path, options=options, **made)[0].path
            for builder in (nfpm.NfpmDeb, dpkgdeb.DpkgDeb)]


def listing(deb: Path) -> list[str]:
    """``dpkg-deb -c`` lines (type, mode, owner, size, time, path, link
    target), sorted; without dpkg-deb's entry for the root, "./"."""
    lines = run('dpkg-deb', '-c', '--', str(deb)).splitlines()
    return sorted(re.sub(r' +', ' ', line) for line in lines
                  if not line.endswith(' ./'))


def test_the_package_is_nfpm_debs(tmp_path, name):
    by_nfpm, by_dpkg = both(tmp_path, name)
    assert by_nfpm.name == by_dpkg.name == f'{name}_10.0-bbc1_all.deb'
    assert run('dpkg-deb', '-f', '--', str(by_dpkg)) == \
        run('dpkg-deb', '-f', '--', str(by_nfpm))
    for member in ('conffiles', 'md5sums', 'postinst', 'prerm', 'postrm'):
        assert run('dpkg-deb', '-I', '--', str(by_dpkg), member) == run(
            'dpkg-deb', '-I', '--', str(by_nfpm), member), member
    assert listing(by_dpkg) == listing(by_nfpm)
    assert f'/etc/sudoers.d/gw{name.rsplit("-", 1)[1]}' in run(
        'dpkg-deb', '-I', '--', str(by_dpkg), 'conffiles')
    assert run('ar', 't', str(by_dpkg)).split() == [
        'debian-binary', 'control.tar.gz', 'data.tar.zst']


def test_md5sums_match_the_unpacked_files(tmp_path, name):
    deb, _ = build(dpkgdeb.DpkgDeb, tmp_path, name, manifest_dir=tmp_path,
                   **fields(tmp_path, name))
    unpacked = tmp_path / 'unpacked'
    run('dpkg-deb', '-x', '--', str(deb.path), str(unpacked))
    sums = run('dpkg-deb', '-I', '--', str(deb.path), 'md5sums')
    listed = dict(reversed(line.split('  ', 1)) for line in sums.splitlines())
    files = {str(p.relative_to(unpacked)) for p in unpacked.rglob('*')
             if p.is_file() and not p.is_symlink()}
    assert set(listed) == files
    for path, md5 in listed.items():
        assert hashlib.md5((unpacked / path).read_bytes()).hexdigest() == md5


def big_data() -> str:
    """Text for several zstd jobs (a job is a few MB at level 3), so the
    thread count could change the bytes if the mode were not fixed."""
    return random.Random(0).randbytes(12 * 2 ** 20).hex()


@pytest.mark.parametrize('threads', [3, 4])
def test_rebuilds_are_byte_identical_whatever_threads_and_file_times(
        tmp_path, name, threads):
    files = {'lib/data.txt': big_data()}
    made = [_build_with(tmp_path / str(attempt), name, {'threads': count},
                        files, old).read_bytes()
            for attempt, (count, old) in enumerate(((2, False),
                                                    (threads, True)))]
    assert len(made[0]) > 2 ** 20
    assert made[0] == made[1]


def _build_with(where: Path, name: str, options: dict, files: dict,
                old: bool) -> Path:
    """Build a testing.staged_tree with ``files``; ``old``: the staged
    files dated a day before the build (as the cache's byte-code)."""
    install = f'/opt/{name}'
    tree = testing.staged_tree(where / 'stage', install, files=files)
    if old:
        for path in tree.venv.rglob('*'):
            if path.is_file() and not path.is_symlink():
                os.utime(path, (testing.EPOCH - 86400,) * 2)
    context = testing.build_context(
        where, builder=dpkgdeb.DpkgDeb, options=options,
        package=testing.package_description(name, '10.0-bbc1',
                                            install_path=install),
        runner=Runner(where / 'build.log'))
    return dpkgdeb.DpkgDeb(context).build(tree).path


def test_cache_files_in_the_tree_are_never_changed(tmp_path, name):
    cache = tmp_path / 'cache' / 'module.pyc'
    cache.parent.mkdir()
    cache.write_bytes(b'byte-code')
    cache.chmod(0o600)  # a mode the package must not get from a chmod
    os.utime(cache, (testing.EPOCH - 86400,) * 2)
    before = cache.stat()
    install = f'/opt/{name}'
    tree = testing.staged_tree(tmp_path / 'stage', install)
    os.link(cache, tree.venv / 'module.pyc')  # as the byte-code cache does
    context = testing.build_context(
        tmp_path, builder=dpkgdeb.DpkgDeb, runner=Runner(),
        package=testing.package_description(name, install_path=install))
    deb = dpkgdeb.DpkgDeb(context).build(tree).path
    after = cache.stat()
    assert (after.st_mode, after.st_mtime_ns, cache.read_bytes()) == (
        before.st_mode, before.st_mtime_ns, b'byte-code')
    line = next(li for li in run('dpkg-deb', '-c', '--', str(deb))
                .splitlines() if li.endswith('/module.pyc'))
    assert line.startswith('-rw------- root/root')
    assert ' 2025-01-01 00:00 ' in line  # the build's time, not the cache's


@pytest.mark.parametrize('compression, member', [
    ('xz', 'data.tar.xz'), ('gzip', 'data.tar.gz'), ('none', 'data.tar')])
def test_compressions(tmp_path, name, compression, member):
    deb, _ = build(dpkgdeb.DpkgDeb, tmp_path, name,
                   options={'compression': compression})
    assert run('ar', 't', str(deb.path)).split() == [
        'debian-binary', 'control.tar.gz', member]
    assert 'hello' in run('dpkg-deb', '-c', '--', str(deb.path))


def test_lintian_finds_no_errors_and_applies_the_overrides(tmp_path, name):
    need('lintian')
    # Debian 12's lintian cannot read a zstd data.tar (the default).
    deb, _ = build(dpkgdeb.DpkgDeb, tmp_path, name, manifest_dir=tmp_path,
                   options={'compression': 'xz'}, **fields(tmp_path, name))
    out = Runner().run(['lintian', '--tag-display-limit', '0', '--',
                        str(deb.path)], check=False).output
    assert not findings(out, 'E: '), out
    overridden = Runner().run(['lintian', '--show-overrides', '--',
                               str(deb.path)], check=False).output
    assert f'O: {name}: dir-or-file-in-opt' in overridden


def test_installs_verifies_and_purges(tmp_path, name):
    need_root_dpkg()
    made = fields(tmp_path, name)
    deb, install = build(dpkgdeb.DpkgDeb, tmp_path, name,
                         manifest_dir=tmp_path, **made)
    try:
        dpkg('-i', '--', str(deb.path))
        assert dpkg('--verify', '--', name) == ''  # md5sums hold
        conffiles = subprocess.run(
            ['dpkg-query', '-W', '-f=${Conffiles}', '--', name],
            capture_output=True, text=True, check=True).stdout
        assert f'{install}/etc/hello.conf' in conffiles
        assert os.readlink(f'{install}/bin/python') == '/usr/bin/python3.11'
        assert Path(f'{install}/bin/hello').stat().st_mode & 0o777 == 0o755
        assert Path(f'/var/lib/{made["user"]}/postinst-ran').exists()
        dpkg('--purge', '--', name)
        assert not Path(str(install)).exists()
    finally:
        dpkg('--purge', '--', name)
        forget_account(made['user'])


def giftwrap_build(manifest: Path, out: Path, cache: Path, *extra: str):
    result = subprocess.run(
        ['giftwrap', 'build', '-m', str(manifest), '-o', str(out),
         '--cache-dir', str(cache), '-f', 'json', *extra],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def test_giftwrap_build_is_reproducible_cold_and_warm(tmp_path):
    manifest = projectutil.pinned_manifest(tmp_path, builders='[dpkg-deb]')
    cache = tmp_path / 'cache'
    rows = giftwrap_build(manifest, tmp_path / 'one', cache,
                          '--check-reproducible')
    assert [r['Status'] for r in rows] == ['reproducible'], rows
    # the byte-code now comes hard-linked from the warm cache
    giftwrap_build(manifest, tmp_path / 'two', cache)
    (deb,) = (tmp_path / 'one').glob('*.deb')
    assert deb.read_bytes() == (tmp_path / 'two' / deb.name).read_bytes()
    assert run('dpkg-deb', '-f', '--', str(deb), 'Package').strip() == \
        'openstack-hello-app'


def test_the_package_is_what_one_dpkg_deb_run_writes(tmp_path, name):
    # dpkg-deb ran on the tree (mounted) while md5sums were gathered, and
    # on DEBIAN/ alone beside it: the package is the first run's with the
    # second's control member, which must be the bytes of a single run on
    # the complete tree, in the same mount.
    deb = _build_with(tmp_path, name, {'threads': 2},
                      {'lib/data.txt': big_data()[:2 ** 20]}, old=False)
    work = tmp_path / 'work'
    assert 'unshare --mount' in (tmp_path / 'build.log').read_text()
    for part in ('md5sums', 'control'):
        shutil.copy2(work / 'control' / 'DEBIAN' / part,
                     work / 'root' / 'DEBIAN' / part)
    assert f'opt/{name}/lib/data.txt' in (
        work / 'root' / 'DEBIAN' / 'md5sums').read_text()
    once = tmp_path / 'once.deb'
    subprocess.run(
        [*dpkgdeb.bind_run(work / 'bind', shutil.which('unshare')),
         str(tmp_path / 'stage' / 'opt' / name),
         str(work / 'root' / 'opt' / name),
         'dpkg-deb', '--root-owner-group', '-Zzstd', '--threads-max=2',
         '--no-uniform-compression', '--build', str(work / 'root'),
         str(once)], check=True, capture_output=True,
        env={'PATH': os.environ['PATH'],
             'SOURCE_DATE_EPOCH': str(testing.EPOCH)})
    assert once.read_bytes() == deb.read_bytes()

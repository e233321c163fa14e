"""giftwrap publish keeps history: real apt, dpkg, rpm and createrepo_c.

Release 1.9-1 then 1.10-1 go into one repository; apt (with a private
sources list, lists and cache) and createrepo_c's primary.xml must see both,
apt must take 1.10-1 as the newer (string order would not), and a rollback
installs 1.9-1.  --keep prunes by dpkg's and rpm's version order.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.trust import repoindex, repository, signing, vercmp
from giftwrap.builders import nfpm
from giftwrap.util.process import Runner
from tests.packageutil import Apt, build_package, need, run_cli

OLD, NEW = '1.9-1', '1.10-1'


@pytest.fixture(scope='module')
def releases(tmp_path_factory) -> tuple[str, dict[str, Path]]:
    """Two output directories, one per release, each with a .deb and .rpm."""
    need('nfpm', 'dpkg-deb', 'createrepo_c', 'apt-ftparchive')
    top = tmp_path_factory.mktemp('history')
    name = f'giftwrap-hist-{uuid.uuid4().hex[:8]}'
    outs = {}
    for version in (OLD, NEW):
        outs[version] = top / f'out-{version}'
        for builder in (nfpm.NfpmDeb, nfpm.NfpmRpm):
            build_package(builder, top, name, outs[version],
                          version_text=version)
    return name, outs


@pytest.fixture(scope='module')
def repo(releases, keys, tmp_path_factory) -> Path:  # noqa: F811
    name, outs = releases
    repo = tmp_path_factory.mktemp('history-repo') / 'repo'
    for version in (OLD, NEW):
        status, stdout, stderr = run_cli(
            'publish', str(outs[version]), '--repo', str(repo),
            '--gpg-key', keys[0].fingerprint, '--gnupg-home',
            str(keys[0].home), '-f', 'json')
        assert status == 0, stderr
    rows = json.loads(stdout)
    assert sorted((r['Format'], r['Version'], r['Status']) for r in rows) == [
        ('deb', NEW, 'added'), ('deb', OLD, 'present'),
        ('rpm', NEW, 'added'), ('rpm', OLD, 'present')]
    return repo


def apt_cache(apt: Apt, *args: str) -> str:
    return Runner().run(['apt-cache', *apt.options, *args],
                        env=signing.environment()).output


def test_apt_sees_both_releases_and_rolls_back(repo, releases, tmp_path):
    need('apt-get', 'apt-cache')
    name, _ = releases
    apt = Apt(tmp_path / 'apt', repo, repo / f'{repository.KEYRING}.gpg')
    apt.run('update')
    madison = apt_cache(apt, 'madison', name)
    assert {line.split('|')[1].strip() for line in madison.splitlines()} \
        == {OLD, NEW}, madison
    policy = apt_cache(apt, 'policy', name)
    assert f'Candidate: {NEW}' in policy, policy
    if os.geteuid() != 0:
        return  # installing needs root; CI runs as root
    try:
        apt.run('install', '-y', '--no-install-recommends', name)
        apt.run('install', '-y', '--allow-downgrades',
                '--no-install-recommends', f'{name}={OLD}')
        assert Runner().run(['dpkg-query', '-W', '-f', '${Version}', '--',
                             name]).output == OLD
    finally:
        Runner().run(['dpkg', '--purge', '--', name], check=False)


def test_indexes_are_apt_ftparchives_with_by_hash(repo):
    suite = repo / 'dists' / 'stable'
    release = (suite / 'Release').read_text()
    assert 'Acquire-By-Hash: yes' in release
    assert 'MD5Sum:' not in release and 'SHA1:' not in release
    packages = next(suite.glob('main/binary-*/Packages'))
    digest = hashlib.sha512(packages.read_bytes()).hexdigest()
    assert (packages.parent / 'by-hash' / 'SHA512' / digest).is_file()
    # The first publish's index stays by hash, for apt clients mid-update.
    assert len(list(packages.parent.glob('by-hash/SHA256/*'))) >= 4


def test_yum_metadata_lists_both_releases(repo, releases):
    name, _ = releases
    listed = repoindex.primary(repo)
    assert [(n, v) for n, v, _, _ in listed] == [(name, NEW), (name, OLD)]
    assert all((repo / location).is_file() for *_, location in listed)


def test_same_version_with_other_bytes_is_refused(repo, releases, tmp_path):
    name, outs = releases
    before = sorted(p.name for p in (repo / 'pool' / 'main').iterdir())
    rebuilt = tmp_path / 'out'
    rebuilt.mkdir()
    arch = Runner().run(['dpkg-deb', '-f', '--', str(next(
        outs[NEW].glob('*.deb'))), 'Architecture']).output.strip()
    make_deb(tmp_path, rebuilt, name, NEW, arch)
    with pytest.raises(errors.BuildError, match='already published') as err:
        repository.publish(rebuilt, repo, repository.Options(), Runner())
    assert 'new version' in err.value.hint
    assert sorted(p.name for p in (repo / 'pool' / 'main').iterdir()) == \
        before
    assert [p.name for p in repo.parent.iterdir()] == ['repo']
    # The same bytes again are the same package: accepted, nothing added.
    entries = repository.publish(outs[NEW], repo, repository.Options(
        key=None), Runner())
    assert {e.status for e in entries} == {repository.PRESENT}


def make_deb(tmp_path: Path, out: Path, name: str, version: str,
             arch: str = 'all') -> Path:
    """A minimal real .deb made by dpkg-deb."""
    root = tmp_path / f'deb-{name}-{version}'
    (root / 'DEBIAN').mkdir(parents=True)
    (root / 'DEBIAN' / 'control').write_text(
        f'Package: {name}\nVersion: {version}\nArchitecture: {arch}\n'
        'Maintainer: giftwrap tests <test@example.invalid>\n'
        f'Description: {version}, made for a test\n')
    target = out / f'{name}_{version.replace(":", "%3a")}_{arch}.deb'
    Runner().run(['dpkg-deb', '--root-owner-group', '-b', str(root),
                  str(target)])
    return target


def test_keep_prunes_by_dpkg_and_rpm_version_order(tmp_path):
    need('nfpm', 'dpkg-deb', 'createrepo_c', 'apt-ftparchive')
    name = f'giftwrap-keep-{uuid.uuid4().hex[:8]}'
    out = tmp_path / 'out'
    out.mkdir()
    for version in ('1.9', '1.10', '2.0~rc1', '2.0', '1:0.5'):
        make_deb(tmp_path, out, name, version)
    for version in ('1.9-1', '1.10-1', '2.0~rc1-1', '2.0-1'):
        build_package(nfpm.NfpmRpm, tmp_path, name, out, version_text=version)
    repo = tmp_path / 'repo'
    entries = repository.publish(out, repo, repository.Options(keep=2),
                                 Runner())
    kept = {(e.format, e.version) for e in entries if e.status != 'pruned'}
    assert kept == {('deb', '2.0'), ('deb', '1:0.5'),
                    ('rpm', '2.0~rc1-1'), ('rpm', '2.0-1')}
    assert sorted(p.name for p in (repo / 'pool' / 'main').iterdir()) == \
        sorted(Path(e.path).name for e in entries if e.status != 'pruned')
    assert [v for _, v, _, _ in repoindex.primary(repo)] == \
        ['2.0-1', '2.0~rc1-1']
    packages = next(repo.glob('dists/stable/main/binary-*/Packages'))
    assert sorted(line.split()[1] for line in packages.read_text()
                  .splitlines() if line.startswith('Version:')) == \
        ['1:0.5', '2.0']

    # An older release published later is pruned at once, and says so.
    late = tmp_path / 'late'
    late.mkdir()
    make_deb(tmp_path, late, name, '1.0')
    entries = repository.publish(late, repo, repository.Options(keep=2),
                                 Runner())
    assert ('deb', '1.0', 'pruned') in {
        (e.format, e.version, e.status) for e in entries}


def test_version_order_is_dpkgs_and_rpms():
    need('dpkg', 'rpm')
    assert vercmp.sort_deb(['1:0.1', '1.10', '2.0', '1.9', '2.0~rc1'],
                           Runner()) == ['1.9', '1.10', '2.0~rc1', '2.0',
                                         '1:0.1']
    assert vercmp.sort_rpm(['1:0.1-1', '1.10-1', '2.0-1', '1.9-1',
                            '2.0~rc1-1', '1.10-2'], Runner()) == [
        '1.9-1', '1.10-1', '1.10-2', '2.0~rc1-1', '2.0-1', '1:0.1-1']
    with pytest.raises(errors.BuildError, match='not a deb version'):
        vercmp.sort_deb(['1.0', '--help'], Runner())
    with pytest.raises(errors.BuildError, match='not a rpm version'):
        vercmp.sort_rpm(['1.0-1', '%{lua: os.exit(1)}'], Runner())


def test_keep_must_leave_something(tmp_path):
    with pytest.raises(errors.BuildError, match='--keep 0'):
        repository.publish(tmp_path, tmp_path / 'r',
                           repository.Options(keep=0), Runner())


def test_a_broken_package_fails_and_leaves_the_repository(repo, tmp_path):
    before = sorted(p.name for p in (repo / 'pool' / 'main').iterdir())
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'broken_1.0_all.deb').write_bytes(b'not an ar archive\n')
    with pytest.raises(errors.BuildError) as raised:
        repository.publish(out, repo, repository.Options(), Runner())
    assert 'broken_1.0_all.deb' in str(raised.value)
    assert sorted(p.name for p in (repo / 'pool' / 'main').iterdir()) == \
        before
    assert [p.name for p in repo.parent.iterdir()] == ['repo']


def test_a_re_signed_rpm_of_a_published_version_is_refused(
        repo, releases, keys, tmp_path):  # noqa: F811
    need('rpmsign')
    _, outs = releases
    out = tmp_path / 'out'
    out.mkdir()
    rpm = out / next(outs[NEW].glob('*.rpm')).name
    rpm.write_bytes(next(outs[NEW].glob('*.rpm')).read_bytes())
    signing.sign_rpm(rpm, keys[0].fingerprint, Runner(),
                     gnupg_home=keys[0].home)  # same name and version
    with pytest.raises(errors.BuildError, match='already published'):
        repository.publish(out, repo, repository.Options(), Runner())

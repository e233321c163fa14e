"""giftwrap publish: real apt-get and gpg against the repositories it writes.

apt reads only a temporary sources list, lists and cache (its -o options),
so the machine's apt state is not touched; the test package has a unique
name and is purged afterwards.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.trust import repoindex, repository, signing
from giftwrap.util.process import Runner
from tests.packageutil import GpgKey, need, remove_key
from tests.packageutil import Apt, run_cli


def snapshot(directory: Path) -> dict[str, tuple[str, float]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(),
                     p.stat().st_mtime) for p in directory.iterdir()}


def test_apt_installs_from_the_signed_repository(repo, built, keys,
                                                 tmp_path):
    need('apt-get', 'dpkg')
    if os.geteuid() != 0:
        pytest.skip('installing a package needs root')
    _, name = built
    apt = Apt(tmp_path / 'apt', repo, repo / f'{repository.KEYRING}.gpg')
    apt.run('update')
    try:
        apt.run('install', '-y', '--no-install-recommends', name)
        status = Runner().run(['dpkg-query', '-W', '-f', '${Status}', '--',
                               name]).output
        assert status == 'install ok installed'
        assert Path(f'/opt/{name}/bin/hello').is_file()
    finally:
        Runner().run(['dpkg', '--purge', '--', name], check=False)
    assert not Path(f'/opt/{name}').exists()


def test_apt_refuses_a_repository_signed_by_another_key(repo, keys,
                                                        tmp_path):
    need('apt-get')
    other = keys[1].public(tmp_path / 'other.gpg')
    apt = Apt(tmp_path / 'apt', repo, other)
    result = apt.run('update', check=False)
    assert result.returncode != 0, result.output
    assert 'NO_PUBKEY' in result.output


def test_release_lists_the_indexes_with_their_hashes(repo, built):
    need('gpgv')
    _, name = built
    suite = repo / 'dists' / 'stable'
    release = (suite / 'Release').read_text()
    assert 'Origin: giftwrap tests\n' in release
    assert 'Components: main\n' in release
    assert 'MD5Sum:' not in release and 'SHA512:\n' in release
    sha256 = release.split('SHA256:\n')[1].split('SHA512:\n')[0]
    listed = {line.split()[2]: line.split()[0]
              for line in sha256.splitlines()}
    assert set(listed) >= {f'main/binary-{a}/Packages{s}'
                           for a in release.split('Architectures: ')[1]
                           .split('\n')[0].split() for s in ('', '.gz')}
    for path, digest in listed.items():
        assert hashlib.sha256((suite / path).read_bytes()).hexdigest() == \
            digest
    keyring = str(repo / f'{repository.KEYRING}.gpg')
    for argv in (['Release.gpg', 'Release'], ['InRelease']):
        Runner().run(['gpgv', '--keyring', keyring, '--',
                      *(str(suite / a) for a in argv)])
    packages = next(suite.glob('main/binary-*/Packages')).read_text()
    assert f'Package: {name}\n' in packages
    assert ': \n' not in packages  # empty fields are left out
    gz = gzip.decompress(next(suite.glob('main/binary-*/Packages.gz'))
                         .read_bytes()).decode()
    assert gz == packages


def test_yum_metadata_is_signed_and_lists_the_rpm(repo, built, keys,
                                                  tmp_path):
    _, name = built
    home = tmp_path / 'verify-home'
    home.mkdir(mode=0o700)
    env = signing.environment(home)
    Runner().run(['gpg', '--batch', '--import', '--',
                  str(repo / f'{repository.KEYRING}.asc')], env=env)
    repodata = repo / 'repodata'
    verify = ['gpg', '--batch', '--verify', '--',
              str(repodata / 'repomd.xml.asc'), str(repodata / 'repomd.xml')]
    try:
        Runner().run(verify, env=env)
        rpm, = repoindex.primary(repo)
        assert rpm[:3] == (name, '1.0-1', 'noarch')
        assert rpm[3] == f'pool/main/{name}-1.0-1.noarch.rpm'
        assert (repo / rpm[3]).is_file()

        tampered = tmp_path / 'repomd'
        tampered.mkdir()
        (tampered / 'repomd.xml').write_bytes(
            (repodata / 'repomd.xml').read_bytes().replace(b'sha256',
                                                           b'sha257', 1))
        (tampered / 'repomd.xml.asc').write_bytes(
            (repodata / 'repomd.xml.asc').read_bytes())
        result = Runner().run(verify[:4] + [str(tampered / 'repomd.xml.asc'),
                                            str(tampered / 'repomd.xml')],
                              env=env, check=False)
        assert result.returncode != 0
    finally:
        remove_key(GpgKey(home, ''))


def test_cli_republishes_in_place_and_leaves_the_output_alone(built, keys,
                                                              tmp_path):
    need('createrepo_c')
    out, name = built
    before = snapshot(out)
    repo = tmp_path / 'repo'
    args = ('publish', str(out), '--repo', str(repo), '--gpg-key',
            keys[0].fingerprint, '--gnupg-home', str(keys[0].home),
            '--suite', 'bookworm', '--architectures', 'amd64,arm64',
            '-f', 'json')
    for _ in range(2):  # the second run replaces the first repository
        status, stdout, stderr = run_cli(*args)
        assert status == 0, stderr
    rows = json.loads(stdout)
    assert sorted((r['Format'], r['Package']) for r in rows) == [
        ('deb', name), ('rpm', name)]
    assert sorted(p.name for p in (repo / 'pool' / 'main').iterdir()) == \
        sorted(p.name for p in out.iterdir() if p.suffix in ('.deb', '.rpm'))
    assert (repo / 'dists/bookworm/InRelease').is_file()
    assert (repo / 'dists/bookworm/main/binary-arm64/Packages').is_file()
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['repo']


def test_refuses_to_replace_a_directory_it_did_not_write(built, tmp_path):
    out, _ = built
    precious = tmp_path / 'precious'
    precious.mkdir()
    (precious / 'keep-me').write_text('data\n')
    with pytest.raises(errors.BuildError, match='not a repository giftwrap'):
        repository.publish(out, precious, repository.Options(), Runner())
    assert (precious / 'keep-me').read_text() == 'data\n'
    with pytest.raises(errors.BuildError, match='overlap'):
        repository.publish(out, out / 'repo', repository.Options(), Runner())


def test_bad_names_and_empty_output(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(errors.BuildError, match='no .deb or .rpm'):
        repository.publish(empty, tmp_path / 'r', repository.Options(),
                           Runner())
    with pytest.raises(errors.BuildError, match='not a plain name'):
        repository.publish(empty, tmp_path / 'r',
                           repository.Options(suite='../etc'), Runner())
    with pytest.raises(errors.BuildError, match='one line'):
        repository.publish(empty, tmp_path / 'r',
                           repository.Options(label='a\nSHA256: x'), Runner())
    assert not (tmp_path / 'r').exists()

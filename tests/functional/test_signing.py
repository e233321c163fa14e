"""Real rpm signatures: a throwaway GPG key, nfpm's rpm, rpmsign and rpm -K.

The helpers here (a GPG home with a fresh key, a .deb and an .rpm built by
the nfpm builders) are shared with test_publish.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.trust import signing
from giftwrap.builders import nfpm
from giftwrap.util.process import Runner
from tests.packageutil import GpgKey, build_package, make_key, need, remove_key


@pytest.fixture
def gpg_key():
    need('gpg')
    key = make_key(f'giftwrap test {uuid.uuid4().hex[:8]} '
                   '<test@example.invalid>')
    yield key
    remove_key(key)


def rpm_checksig(rpm: Path, key: GpgKey, dbpath: Path) -> tuple[int, str]:
    """``rpm -K`` against an rpm database that trusts only ``key``."""
    if not dbpath.exists():
        dbpath.mkdir(parents=True)
        public = key.public(dbpath.parent / 'key.asc', armor=True)
        Runner().run(['rpmkeys', '--dbpath', str(dbpath), '--import', '--',
                      str(public)])
    result = Runner().run(['rpm', '--dbpath', str(dbpath), '-K', '--',
                           str(rpm)], check=False)
    return result.returncode, result.output


@pytest.fixture
def rpm_file(tmp_path) -> Path:
    need('nfpm', 'rpm')
    return build_package(nfpm.NfpmRpm, tmp_path,
                         f'giftwrap-sign-{uuid.uuid4().hex[:8]}')


def test_signed_rpm_verifies_and_a_flipped_byte_fails(tmp_path, gpg_key,
                                                      rpm_file):
    need('rpmsign', 'rpmkeys')
    db = tmp_path / 'rpmdb'
    status, output = rpm_checksig(rpm_file, gpg_key, db)
    assert status == 0 and 'signatures' not in output.lower(), output

    signing.sign_rpm(rpm_file, gpg_key.fingerprint, Runner(),
                     gnupg_home=gpg_key.home)
    status, output = rpm_checksig(rpm_file, gpg_key, db)
    assert status == 0, output
    assert 'digests signatures OK' in output

    data = bytearray(rpm_file.read_bytes())
    data[-16] ^= 0x01  # in the payload, whose digest is signed
    broken = tmp_path / 'broken.rpm'
    broken.write_bytes(bytes(data))
    status, output = rpm_checksig(broken, gpg_key, db)
    assert status != 0
    assert 'NOT OK' in output


def test_signature_by_another_key_is_not_trusted(tmp_path, gpg_key, rpm_file):
    need('rpmsign', 'rpmkeys')
    other = make_key('someone else <other@example.invalid>')
    try:
        signing.sign_rpm(rpm_file, other.fingerprint, Runner(),
                         gnupg_home=other.home)
    finally:
        remove_key(other)
    status, output = rpm_checksig(rpm_file, gpg_key, tmp_path / 'rpmdb')
    assert status != 0
    assert 'SIGNATURES NOT OK' in output


def test_unknown_key_fails_clearly(gpg_key, rpm_file):
    need('rpmsign')
    with pytest.raises(errors.BuildError, match='no secret key'):
        signing.check_secret_key('nobody@example.invalid', Runner(),
                                 gnupg_home=gpg_key.home)
    with pytest.raises(errors.BuildError, match='no secret key'):
        signing.sign_rpm(rpm_file, 'nobody@example.invalid', Runner(),
                         gnupg_home=gpg_key.home)


@pytest.mark.parametrize('key', ['%(touch /tmp/x)', '-x', 'a"b', 'a\nb', ''])
def test_key_names_that_could_inject_are_refused(key, tmp_path):
    with pytest.raises(errors.BuildError, match='not a GPG key name'):
        signing.sign_rpm(tmp_path / 'x.rpm', key, Runner())


def test_missing_tool_names_the_package(monkeypatch):
    monkeypatch.setattr(signing, 'find_tool', lambda name: None)
    with pytest.raises(errors.MissingToolError,
                       match='createrepo_c is not installed') as raised:
        signing.tool('createrepo_c')
    assert 'apt-get install createrepo-c' in raised.value.hint


def test_detached_signature_verifies(tmp_path, gpg_key):
    data = tmp_path / 'data'
    data.write_text('signed\n')
    sig = signing.detach_sign(data, tmp_path / 'data.asc',
                              gpg_key.fingerprint, Runner(),
                              gnupg_home=gpg_key.home)
    assert sig.read_text().startswith('-----BEGIN PGP SIGNATURE-----')
    env = signing.environment(gpg_key.home)
    Runner().run(['gpg', '--batch', '--verify', '--', str(sig), str(data)],
                 env=env)
    data.write_text('tampered\n')
    result = Runner().run(['gpg', '--batch', '--verify', '--', str(sig),
                           str(data)], env=env, check=False)
    assert result.returncode != 0


def test_nfpm_rpm_builder_signs_before_publishing(tmp_path, gpg_key):
    """With the gpg_key option, the published rpm is already signed."""
    need('nfpm', 'rpm', 'rpmsign', 'rpmkeys')
    options = {'gpg_key': gpg_key.fingerprint, 'gnupg_home': str(gpg_key.home)}
    nfpm.NfpmRpm.check_tools(options)
    rpm = build_package(nfpm.NfpmRpm, tmp_path,
                        f'giftwrap-sign-{uuid.uuid4().hex[:8]}',
                        options=options)
    status, output = rpm_checksig(rpm, gpg_key, tmp_path / 'rpmdb')
    assert status == 0, output
    assert 'digests signatures OK' in output

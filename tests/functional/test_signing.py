"""Real rpm signatures: a throwaway GPG key, nfpm's rpm, rpmsign and rpm -K.

The helpers here (a GPG home with a fresh key, a .deb and an .rpm built by
the nfpm builders) are shared with test_publish.py.
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import tempfile
import uuid
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import testing
from giftwrap import errors, signing, versions
from giftwrap.builders import nfpm
from giftwrap.builders.base import StagedTree
from giftwrap.interpreter import Interpreter
from giftwrap.manifest import Project
from giftwrap.package import PackageDescription
from giftwrap.process import Runner, find_tool
from giftwrap.sources.base import Checkout, Pins


def need(*tools: str) -> None:
    for tool in tools:
        if find_tool(tool) is None:
            pytest.skip(f'{tool} is not installed')


@dataclasses.dataclass(frozen=True)
class GpgKey:
    home: Path
    fingerprint: str

    def public(self, dest: Path, armor: bool = False) -> Path:
        return signing.export_public_key(self.fingerprint, dest, Runner(),
                                         gnupg_home=self.home, armor=armor)


def make_key(uid: str) -> GpgKey:
    """A new signing key without passphrase in a new GnuPG home.

    The home is short and under /tmp: gpg-agent's socket path must stay
    under the 108 bytes a Unix socket name may have.
    """
    home = Path(tempfile.mkdtemp(prefix='gw-gpg-', dir='/tmp'))
    env = signing.environment(home)
    Runner().run(['gpg', '--batch', '--passphrase', '', '--quick-gen-key',
                  '--', uid, 'ed25519', 'sign', 'never'], env=env)
    listing = Runner().run(['gpg', '--batch', '--with-colons',
                            '--list-secret-keys', '--', uid], env=env).output
    fingerprint = next(line.split(':')[9] for line in listing.splitlines()
                       if line.startswith('fpr:'))
    return GpgKey(home, fingerprint)


def remove_key(key: GpgKey) -> None:
    """Stop the gpg-agent of the key's home and remove the home."""
    if find_tool('gpgconf'):
        Runner().run(['gpgconf', '--kill', 'all'],
                     env=signing.environment(key.home), check=False)
    shutil.rmtree(key.home, ignore_errors=True)


@pytest.fixture
def gpg_key():
    need('gpg')
    key = make_key(f'giftwrap test {uuid.uuid4().hex[:8]} '
                   '<test@example.invalid>')
    yield key
    remove_key(key)


def _stage(root: Path, install: PurePosixPath) -> StagedTree:
    venv = root / install.relative_to('/')
    (venv / 'bin').mkdir(parents=True)
    script = venv / 'bin' / 'hello'
    script.write_text('#!/bin/sh\necho hello\n')
    script.chmod(0o755)
    return StagedTree(root=root, install_path=install)


def build_package(builder, tmp_path: Path, name: str,
                  out: Path | None = None, options=None,
                  version_text: str = '1.0-1') -> Path:
    """A small real package of ``name`` (installs /opt/<name>/bin/hello)."""
    install = PurePosixPath('/opt') / name
    version = versions.parse(version_text)
    out = out or tmp_path / 'out'
    project = Project(
        name='hello', package_name=name, version=version_text,
        package_version=version, install_path=install,
        giturl='https://example.invalid/hello', gitref='master',
        python='/usr/bin/python3', resolver='none',
        builders=('nfpm-deb', 'nfpm-rpm'), resolver_options={},
        builder_options={}, force_overwrite=True, output_dir=out,
        where='manifest.yml:1')
    package = PackageDescription(
        name=name, version=version, install_path=install,
        summary='hello for a giftwrap test', license='Apache-2.0',
        maintainer='giftwrap tests <test@example.invalid>',
        depends=(), machine='x86_64')
    checkout = Checkout(tmp_path / 'src', project.giturl, 'master', 'a' * 40,
                        datetime.datetime(2025, 1, 1,
                                          tzinfo=datetime.timezone.utc))
    work = tmp_path / f'work-{builder.__name__}-{version_text}'
    work.mkdir(parents=True, exist_ok=True)
    context = testing.build_context(
        tmp_path, project=project, package=package,
        interpreter=Interpreter(Path('/usr/bin/python3.11'), '3.11.2'),
        checkout=checkout, pins=Pins.of([]), options=options or {},
        work_dir=work,
        output_dir=out, runner=Runner(tmp_path / 'build.log'))
    tree = _stage(tmp_path / f'stage-{builder.__name__}-{version_text}',
                  install)
    return builder(context).build(tree).path


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

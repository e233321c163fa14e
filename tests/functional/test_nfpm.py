"""Real .deb and .rpm packages built with real nfpm, read by dpkg and rpm."""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import testing
from giftwrap import errors
from giftwrap.manifest import versions
from giftwrap.builders import nfpm
from giftwrap.package.builder import BuildContext
from giftwrap.venv.interpreter import Interpreter
from giftwrap.manifest.loader import Project
from giftwrap.package.description import PackageDescription
from giftwrap.util.process import Runner, find_tool
from giftwrap.resolve.base import Checkout, Pins
from tests.packageutil import ODD_NAME, dpkg, need, run, stage

pytestmark = pytest.mark.skipif(find_tool('nfpm') is None,
                                reason='nfpm is not installed')


def context(tmp_path: Path, name: str, install: PurePosixPath, *,
            native: bool = False, force_overwrite: bool = False,
            options=None) -> BuildContext:
    version = versions.parse('10.0-bbc1')
    project = Project(
        name='hello', package_name=name, version='10.0-bbc1',
        package_version=version, install_path=install,
        giturl='https://example.invalid/hello', gitref='master',
        gitdepth=None, python='/usr/bin/python3.11', resolver='none',
        builders=('nfpm-deb', 'nfpm-rpm'), resolver_options={},
        builder_options={}, force_overwrite=force_overwrite,
        output_dir=tmp_path / 'out', where='manifest.yml:1')
    package = PackageDescription(
        name=name, version=version, install_path=install,
        summary='hello in a virtualenv', description='Built by a test.',
        license='Apache-2.0', depends=('python3.11', 'libc6'),
        config_files=(install / 'etc' / 'hello.conf',), native=native,
        machine='x86_64')
    checkout = Checkout(tmp_path / 'src', project.giturl, 'master', 'a' * 40,
                        datetime.datetime(2025, 1, 1,
                                          tzinfo=datetime.timezone.utc))
    return testing.build_context(
        tmp_path, project=project, package=package,
        interpreter=Interpreter(Path('/usr/bin/python3.11'), '3.11.2'),
        checkout=checkout, pins=Pins.of([]), options=options or {},
        work_dir=tmp_path / 'work', output_dir=tmp_path / 'out',
        runner=Runner(tmp_path / 'build.log'))


def build(builder, tmp_path, name, out=None, **kw):
    install = PurePosixPath('/opt') / name
    tree = stage(tmp_path / 'stage', install)
    ctx = context(tmp_path, name, install, **kw)
    if out is not None:
        ctx = dataclasses.replace(ctx, output_dir=out)
    return builder(ctx).build(tree), install


def test_deb_metadata_and_contents(tmp_path, name):
    need('dpkg-deb')
    artifact, install = build(nfpm.NfpmDeb, tmp_path, name)
    assert artifact.path == tmp_path / 'out' / f'{name}_10.0-bbc1_all.deb'
    deb = str(artifact.path)
    fields = {f: run('dpkg-deb', '-f', '--', deb, f).strip() for f in
              ('Package', 'Version', 'Depends', 'Architecture')}
    assert fields == {'Package': name, 'Version': '10.0-bbc1',
                      'Depends': 'python3.11, libc6', 'Architecture': 'all'}
    assert run('dpkg-deb', '-f', '--', deb, 'Description').startswith(
        'hello in a virtualenv\n')
    assert run('dpkg-deb', '-I', '--', deb, 'conffiles').split() == [
        f'{install}/etc/hello.conf']
    listing = run('dpkg-deb', '-c', '--', deb)
    assert f'.{install}/bin/python -> /usr/bin/python3.11' in listing
    assert f'.{install}/{ODD_NAME}' in listing
    hello = next(li for li in listing.splitlines()
                 if li.endswith(f'{install}/bin/hello'))
    assert hello.startswith('-rwxr-xr-x root/root')


def test_deb_compression_option(tmp_path, name):
    need('dpkg-deb')
    artifact, _ = build(nfpm.NfpmDeb, tmp_path, name,
                        options={'compression': 'xz'})
    members = run('ar', 't', str(artifact.path)).split()
    assert 'data.tar.xz' in members


@pytest.mark.parametrize('builder, member', [
    (nfpm.NfpmDeb, 'data.tar.zst'), (nfpm.NfpmRpm, None)])
def test_compression_level_reaches_nfpm(tmp_path, name, builder, member):
    need('dpkg-deb' if member else 'rpm')
    sizes = {}
    for level in (1, 19):
        artifact, _ = build(builder, tmp_path / str(level), name,
                            options={'compression_level': level})
        sizes[level] = artifact.path.stat().st_size
        if member:
            assert member in run('ar', 't', str(artifact.path)).split()
            assert 'hello' in run('dpkg-deb', '-c', str(artifact.path))
        else:
            assert 'zstd' in run('rpm', '-qp', '--qf',
                                 '%{PAYLOADCOMPRESSOR}', str(artifact.path))
    assert sizes[19] < sizes[1]


def test_rpm_metadata_and_contents(tmp_path, name):
    need('rpm')
    artifact, install = build(nfpm.NfpmRpm, tmp_path, name)
    assert artifact.path == tmp_path / 'out' / f'{name}-10.0-bbc1.noarch.rpm'
    rpm = str(artifact.path)
    info = run('rpm', '-qp', '--qf',
               '%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{PAYLOADCOMPRESSOR}'
               '|%{SUMMARY}', '--', rpm)
    assert info.strip() == (f'{name} 10.0 bbc1 noarch zstd'
                            '|hello in a virtualenv')
    assert 'Version     : 10.0' in run('rpm', '-qip', '--', rpm)
    files = run('rpm', '-qlp', '--', rpm).split('\n')
    assert f'{install}/bin/python' in files
    assert f'{install}/{ODD_NAME}' in files
    assert str(install) in files  # the package owns its directory
    requires = run('rpm', '-qp', '--requires', '--', rpm).split('\n')
    assert {'python3.11', 'libc6'} <= set(requires)
    assert run('rpm', '-qcp', '--', rpm).split() == [
        f'{install}/etc/hello.conf']


def test_native_packages_are_architecture_specific(tmp_path, name):
    need('dpkg-deb')
    deb, _ = build(nfpm.NfpmDeb, tmp_path, name, native=True)
    assert deb.path.name == f'{name}_10.0-bbc1_amd64.deb'
    assert run('dpkg-deb', '-f', '--', str(deb.path),
               'Architecture').strip() == 'amd64'
    rpm, _ = build(nfpm.NfpmRpm, tmp_path / 'rpm', name, native=True)
    assert rpm.path.name == f'{name}-10.0-bbc1.x86_64.rpm'


def test_existing_package_is_replaced_only_with_force_overwrite(tmp_path,
                                                                name):
    out = tmp_path / 'out'
    first, _ = build(nfpm.NfpmDeb, tmp_path / 'a', name, out=out)
    before = first.path.read_bytes()
    with pytest.raises(errors.BuildError, match='exists already'):
        build(nfpm.NfpmDeb, tmp_path / 'b', name, out=out,
              options={'compression': 'gzip'})
    assert first.path.read_bytes() == before
    second, _ = build(nfpm.NfpmDeb, tmp_path / 'c', name, out=out,
                      options={'compression': 'gzip'}, force_overwrite=True)
    assert second.path == first.path
    assert first.path.read_bytes() != before
    assert [p.name for p in out.iterdir()] == [first.path.name]


def test_deb_installs_and_purges(tmp_path, name):
    need('dpkg')
    if os.geteuid() != 0:
        pytest.skip('installing a package needs root')
    if not Path('/usr/bin/python3.11').exists():
        pytest.skip('the package depends on python3.11, not installed')
    artifact, install = build(nfpm.NfpmDeb, tmp_path, name)
    try:
        dpkg('-i', '--', str(artifact.path))
        assert Path(f'{install}/bin/hello').stat().st_mode & 0o777 == 0o755
        assert os.readlink(f'{install}/bin/python') == '/usr/bin/python3.11'
        assert Path(f'{install}/{ODD_NAME}').read_text() == 'literal\n'
        out = Runner().run([f'{install}/bin/python', f'{install}/bin/hello'])
        assert out.output.strip() == 'hello'
        assert 'Status: install ok installed' in dpkg('-s', '--', name)
    finally:
        dpkg('--purge', '--', name)
    assert not Path(install).exists()

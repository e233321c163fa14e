"""Unit tests of the nfpm builders: the generated nfpm configuration."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import testing
from giftwrap import errors
from giftwrap import plugins as drivers
from giftwrap.manifest import versions
from giftwrap.builders import nfpm
from giftwrap.package.builder import BuildContext, StagedTree
from giftwrap.venv.interpreter import Interpreter
from giftwrap.manifest.loader import Project
from giftwrap.package.description import PackageDescription
from giftwrap.resolve.base import Checkout, Pins

INSTALL = PurePosixPath('/opt/acme/nova')


def make_tree(root: Path, config_files=()) -> StagedTree:
    """A small fake virtualenv: a script, a module, links, a config file."""
    venv = root / INSTALL.relative_to('/')
    (venv / 'bin').mkdir(parents=True)
    (venv / 'lib' / 'python3.11' / 'site-packages').mkdir(parents=True)
    (venv / 'etc' / 'nova').mkdir(parents=True)
    script = venv / 'bin' / 'nova-api'
    script.write_text('#!/opt/acme/nova/bin/python\n')
    script.chmod(0o755)
    (venv / 'lib' / 'python3.11' / 'site-packages' / 'nova.py').write_text('')
    (venv / 'etc' / 'nova' / 'nova.conf').write_text('[DEFAULT]\n')
    (venv / 'bin' / 'python').symlink_to('/usr/bin/python3.11')
    (venv / 'lib64').symlink_to('lib')
    return StagedTree(root=root, install_path=INSTALL,
                      config_files=tuple(PurePosixPath(c) for c in config_files))


def make_package(version='10.0-bbc1', **kw) -> PackageDescription:
    if isinstance(version, str):
        version = versions.parse(version)
    fields = dict(name='acme-nova', version=version,
                  install_path=INSTALL, summary='nova in a virtualenv',
                  depends=('python3.11', 'libxml2'))
    fields.update(kw)
    return PackageDescription(**fields)


def make_project(**kw) -> Project:
    fields = dict(
        name='nova', package_name='acme-nova', version='10.0-bbc1',
        package_version=versions.parse('10.0-bbc1'), install_path=INSTALL,
        giturl='https://opendev.org/openstack/nova', gitref='master',
        gitdepth=None, python='/usr/bin/python3.11',
        resolver='upper-constraints', builders=('nfpm-deb',),
        resolver_options={}, builder_options={}, where='manifest.yml:3')
    fields.update(kw)
    return Project(**fields)


def config_of(tree, package=None, packager='deb', compression='zstd'):
    return nfpm.nfpm_config(package or make_package(), tree,
                            packager=packager, arch='all',
                            compression=compression)


def by_dst(config) -> dict:
    return {e['dst']: e for e in config['contents']}


@pytest.mark.parametrize('version, upstream, release', [
    ('10.0-bbc1', '10.0', 'bbc1'), ('2025.1', '2025.1', '1')])
def test_version_maps_to_version_and_release(tmp_path, version, upstream,
                                             release):
    config = config_of(make_tree(tmp_path), make_package(version))
    assert config['version'] == upstream
    assert config['release'] == release
    assert config['version_schema'] == 'none'
    assert 'epoch' not in config and 'prerelease' not in config


def test_epoch_is_set_only_when_given(tmp_path):
    package = make_package(version=versions.PackageVersion('1.0', '2', 3))
    assert config_of(make_tree(tmp_path), package)['epoch'] == '3'


def test_metadata_and_depends(tmp_path):
    package = make_package(vendor='ACME', homepage='https://acme.example',
                           license='Apache-2.0', description='Built.')
    config = config_of(make_tree(tmp_path), package)
    assert config['name'] == 'acme-nova'
    assert config['depends'] == ['python3.11', 'libxml2']
    assert config['description'] == 'nova in a virtualenv\nBuilt.'
    assert config['vendor'] == 'ACME' and config['license'] == 'Apache-2.0'
    assert config['disable_globbing'] is True
    json.dumps(config)  # written as JSON: only plain types


def test_empty_values_are_left_out(tmp_path):
    config = config_of(make_tree(tmp_path), make_package(depends=()))
    assert 'vendor' not in config and 'depends' not in config


def test_every_entry_with_its_mode(tmp_path):
    contents = by_dst(config_of(make_tree(tmp_path)))
    root = contents[str(INSTALL)]
    assert root['type'] == 'dir'
    assert contents[f'{INSTALL}/bin']['type'] == 'dir'
    script = contents[f'{INSTALL}/bin/nova-api']
    assert script['file_info']['mode'] == 0o755
    assert script['src'] == str(tmp_path / 'opt/acme/nova/bin/nova-api')
    assert 'type' not in script
    assert contents[f'{INSTALL}/lib/python3.11/site-packages/nova.py'][
        'file_info']['mode'] == 0o644 & ~_umask()
    assert len(contents) == 12


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_symlinks_are_links_and_not_followed(tmp_path):
    contents = by_dst(config_of(make_tree(tmp_path)))
    python = contents[f'{INSTALL}/bin/python']
    assert python['type'] == 'symlink'
    assert python['src'] == '/usr/bin/python3.11'
    assert contents[f'{INSTALL}/lib64'] == {
        'src': 'lib', 'dst': f'{INSTALL}/lib64', 'type': 'symlink',
        'file_info': {'mode': 0o777}}
    assert not any(d.startswith(f'{INSTALL}/lib64/') for d in contents)


def test_link_into_the_stage_root_is_refused(tmp_path):
    tree = make_tree(tmp_path)
    (tree.venv / 'bin' / 'bad').symlink_to(tree.venv / 'bin' / 'nova-api')
    with pytest.raises(errors.BuildError, match='links into the build'):
        config_of(tree)


def test_config_files_inside_and_outside_the_venv(tmp_path):
    inside, outside = f'{INSTALL}/etc/nova/nova.conf', '/etc/nova/api.ini'
    tree = make_tree(tmp_path, config_files=(inside, outside))
    (tmp_path / 'etc' / 'nova').mkdir(parents=True)
    (tmp_path / 'etc' / 'nova' / 'api.ini').write_text('[api]\n')
    contents = by_dst(config_of(tree))
    assert contents[inside]['type'] == 'config|noreplace'
    assert contents[outside]['type'] == 'config|noreplace'
    assert contents[outside]['src'] == str(tmp_path / 'etc/nova/api.ini')
    assert 'type' not in contents[f'{INSTALL}/bin/nova-api']


@pytest.mark.parametrize('config_file', [
    '/etc/nova/missing.conf', f'{INSTALL}/etc/nova/missing.conf',
    f'{INSTALL}/etc/nova'])
def test_config_file_must_be_a_staged_file(tmp_path, config_file):
    with pytest.raises(errors.BuildError, match='config file'):
        config_of(make_tree(tmp_path, config_files=(config_file,)))


def test_special_files_are_refused(tmp_path):
    tree = make_tree(tmp_path)
    os.mkfifo(tree.venv / 'fifo')
    with pytest.raises(errors.BuildError, match='fifo'):
        config_of(tree)


@pytest.mark.parametrize('field, value', [
    ('maintainer', 'Ops <$USER@acme.example>'),
    ('description', 'costs ${PRICE}'),
    ('depends', ('python3.11', 'lib$FOO')),
    ('license', '$LICENSE'),
    ('name', 'acme-$X')])
def test_dollar_in_metadata_is_refused(tmp_path, field, value):
    with pytest.raises(errors.BuildError, match=r'contains "\$"') as exc:
        nfpm.nfpm_config(make_package(**{field: value}), make_tree(tmp_path),
                         packager='deb', arch='all', compression=None,
                         locate=lambda f: f'manifest.yml ({f})')
    assert exc.value.where == f'manifest.yml ({field})'
    assert 'environment variable' in exc.value.hint


def test_control_characters_in_one_line_fields_are_refused(tmp_path):
    package = make_package(maintainer='x\nDepends: evil')
    with pytest.raises(errors.BuildError, match='control character'):
        config_of(make_tree(tmp_path), package)


def test_dollar_and_glob_characters_in_file_names_are_kept(tmp_path):
    # nfpm expands contents only with "expand: true", which is never set.
    tree = make_tree(tmp_path)
    (tree.venv / 'odd$HOME[1]*.txt').write_text('')
    entry = by_dst(config_of(tree))[f'{INSTALL}/odd$HOME[1]*.txt']
    assert entry['src'].endswith('/odd$HOME[1]*.txt')
    assert 'expand' not in entry


def test_compression(tmp_path):
    tree = make_tree(tmp_path)
    assert config_of(tree, compression='xz')['deb'] == {'compression': 'xz'}
    rpm = config_of(tree, packager='rpm', compression='lzma')
    assert rpm['rpm'] == {'compression': 'lzma', 'group': nfpm.RPM_GROUP,
                          'buildhost': 'giftwrap'}
    assert 'deb' not in rpm


@pytest.mark.parametrize('builder, default, bad', [
    (nfpm.NfpmDeb, 'zstd', 'lzma'), (nfpm.NfpmRpm, 'zstd', 'none')])
def test_compression_option(builder, default, bad):
    schema = builder.options
    assert drivers.validate_options(schema, {}, driver_name='x')[
        'compression'] == default
    assert drivers.validate_options(schema, {'compression': 'gzip'},
                                    driver_name='x')['compression'] == 'gzip'
    with pytest.raises(errors.DriverError, match='must be one of'):
        drivers.validate_options(schema, {'compression': bad},
                                 driver_name='x')


@pytest.mark.parametrize('options, message', [
    ({'compression': 'xz', 'compression_level': 3}, 'takes no'),
    ({'compression_level': 23}, 'outside zstd'),
    ({'compression': 'gzip', 'compression_level': 10}, 'outside gzip'),
])
def test_compression_level_is_checked_before_work(options, message):
    validated = drivers.validate_options(nfpm.NfpmDeb.options, options,
                                         driver_name='nfpm-deb')
    with pytest.raises(errors.DriverError, match=message) as info:
        nfpm.NfpmDeb.check_options(validated)
    assert info.value.hint


def test_compression_level_spelled_for_nfpm(tmp_path):
    def spelled(**options):
        context = make_context(tmp_path, None, options=options)
        return nfpm.NfpmDeb(context).compression()
    assert spelled() == 'zstd'
    assert spelled(compression_level=1) == 'zstd:1'
    assert spelled(compression='gzip', compression_level=9) == 'gzip:9'
    nfpm.NfpmRpm.check_options({'compression': 'gzip',
                                'compression_level': 9})


def test_builders_are_registered():
    assert drivers.load(drivers.BUILDERS, 'nfpm-deb') is nfpm.NfpmDeb
    assert drivers.load(drivers.BUILDERS, 'nfpm-rpm') is nfpm.NfpmRpm


def play_nfpm(call: testing.Call) -> None:
    """Write the package nfpm was asked for."""
    testing.touch(call.argv[call.argv.index('--target') + 1])


def nfpm_runner() -> testing.RecordingRunner:
    """Records commands; plays nfpm."""
    return testing.RecordingRunner(respond=play_nfpm)


def make_context(tmp_path, runner, options=None, **project) -> BuildContext:
    checkout = Checkout(tmp_path / 'src', 'https://opendev.org/openstack/nova',
                        'master', 'a' * 40,
                        datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc))
    return testing.build_context(
        tmp_path, project=make_project(**project), package=make_package(),
        interpreter=Interpreter(Path('/usr/bin/python3.11'), '3.11.2'),
        checkout=checkout, pins=Pins.of([]), options=options or {},
        work_dir=tmp_path / 'work', output_dir=tmp_path / 'out',
        runner=runner)


@pytest.mark.parametrize('builder, packager, filename', [
    (nfpm.NfpmDeb, 'deb', 'acme-nova_10.0-bbc1_all.deb'),
    (nfpm.NfpmRpm, 'rpm', 'acme-nova-10.0-bbc1.noarch.rpm')])
def test_build_runs_nfpm_with_a_minimal_environment(
        tmp_path, monkeypatch, builder, packager, filename):
    monkeypatch.setenv('NFPM_PASSPHRASE', 'secret')
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '1700000000')
    runner = nfpm_runner()
    context = make_context(tmp_path, runner, {'compression': 'gzip'})
    artifact = builder(context).build(make_tree(tmp_path / 'stage'))
    assert artifact.path == tmp_path / 'out' / filename
    assert artifact.path.read_bytes() == b'package'
    (call,) = runner.calls
    argv = call.argv
    assert argv[1:3] == ('package', '--config')
    assert argv[4:6] == ('--packager', packager) and argv[6] == '--target'
    assert call.env == {'PATH': os.environ['PATH'],
                        'SOURCE_DATE_EPOCH': '1700000000'}
    config = json.loads(Path(argv[3]).read_text())
    assert config[packager]['compression'] == 'gzip'
    assert config['arch'] == ('all' if packager == 'deb' else 'noarch')


def test_build_refuses_to_overwrite_unless_forced(tmp_path):
    tree = make_tree(tmp_path / 'stage')
    nfpm.NfpmDeb(make_context(tmp_path, nfpm_runner())).build(tree)
    with pytest.raises(errors.BuildError, match='exists already'):
        nfpm.NfpmDeb(make_context(tmp_path, nfpm_runner())).build(tree)
    forced = make_context(tmp_path, nfpm_runner(), force_overwrite=True)
    assert nfpm.NfpmDeb(forced).build(tree).path.exists()


def test_dollar_error_names_the_manifest_line(tmp_path):
    context = make_context(tmp_path, nfpm_runner())
    context = dataclasses.replace(context, package=make_package(
        depends=('python3.11', '$X')))
    with pytest.raises(errors.BuildError) as exc:
        nfpm.NfpmDeb(context).build(make_tree(tmp_path / 'stage'))
    assert exc.value.where == 'manifest.yml:3'

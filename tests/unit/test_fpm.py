"""Unit tests of the fpm builders: the exact fpm command for every field."""

from __future__ import annotations

import configparser
import dataclasses
import datetime
import logging
import os
import sys
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import testing
from giftwrap import errors
from giftwrap import plugins as drivers
from giftwrap.manifest import loader as manifest
from giftwrap.package import description as packaging
from giftwrap.builders import fpm
from giftwrap.package.builder import BuildContext
from giftwrap.resolve.base import Checkout, Pins
from tests.modelutil import INSTALL, PYTHON, make_project, make_tree

ROOT = Path(__file__).resolve().parents[2]


def play_fpm(call: testing.Call) -> None:
    """Write the package fpm was asked for."""
    out = next(a for a in call.argv if a.startswith('--package='))
    testing.touch(out.split('=', 1)[1])


def fpm_runner() -> testing.RecordingRunner:
    """Records each command; plays fpm."""
    return testing.RecordingRunner(respond=play_fpm)


@pytest.fixture
def fake_fpm(tmp_path, monkeypatch) -> str:
    """An ``fpm`` on PATH so the builders find it (the runner never runs
    it)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for tool in ('fpm', 'rpmbuild'):
        (bin_dir / tool).write_text('#!/bin/sh\nexit 1\n')
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    return str(bin_dir / 'fpm')


FULL = dict(
    epoch=1, summary='Nova for ACME', description='Built for ACME.',
    maintainer='ACME Ops <ops@acme.example>', vendor='ACME',
    license='Apache-2.0', homepage='https://acme.example/nova',
    system_dependencies=('libxml2 >= 2.9',), conflicts=('nova-old',),
    provides=('nova-compute',), replaces=('nova-old < 10',),
    user='nova', directories=('/var/lib/nova',),
    systemd_units={'nova-api.service': '[Service]\n'},
    sudoers={'nova': 'nova ALL=(root) NOPASSWD: /bin/true\n'},
    scripts={'preinst': 'echo pre\n', 'postinst': 'echo post\n',
             'prerm': 'echo prerm\n', 'postrm': 'echo postrm\n'})


def make_context(tmp_path, options=None, **fields) -> BuildContext:
    project = make_project(tmp_path, **fields)
    tree = make_tree(tmp_path / 'stage')
    checkout = Checkout(tmp_path / 'src', project.giturl, 'master', 'a' * 40,
                        datetime.datetime(2025, 1, 1,
                                          tzinfo=datetime.timezone.utc))
    return testing.build_context(
        tmp_path, project=project,
        package=packaging.describe(project, tree, PYTHON, checkout),
        interpreter=PYTHON, checkout=checkout, pins=Pins.of([]),
        options=options or {}, work_dir=tmp_path / 'work',
        output_dir=tmp_path / 'out', runner=fpm_runner(),
        source_date_epoch=None)


def build(tmp_path, builder, options=None, **fields):
    context = make_context(tmp_path, options, **fields)
    artifact = builder(context).build(make_tree(tmp_path / 'stage2'))
    (call,) = context.runner.calls
    return artifact, (list(call.argv), call.cwd, call.env)


def test_deb_command_maps_every_field(tmp_path, fake_fpm):
    artifact, (argv, cwd, env) = build(tmp_path, fpm.FpmDeb, **FULL)
    work = tmp_path / 'work'
    stage = tmp_path / 'stage2'
    assert argv == [
        fake_fpm, '--input-type=dir', '--output-type=deb',
        '--name=acme-nova', '--version=10.0', '--iteration=bbc1',
        '--architecture=all', '--maintainer=ACME Ops <ops@acme.example>',
        '--vendor=ACME', '--description=Nova for ACME\nBuilt for ACME.',
        f'--package={work}/fpm-output.deb', f'--workdir={work}/tmp',
        '--epoch=1', '--license=Apache-2.0', '--url=https://acme.example/nova',
        '--depends=python3.11', '--depends=libxml2 (>= 2.9)',
        '--depends=adduser', '--conflicts=nova-old',
        '--provides=nova-compute', '--replaces=nova-old (<< 10)',
        '--config-files=/etc/sudoers.d/nova',
        f'--config-files={INSTALL}/etc/nova/nova.conf',
        f'--config-files={INSTALL}/etc/nova/rootwrap.d/compute.filters',
        f'--after-install={work}/scripts/postinst',
        f'--after-remove={work}/scripts/postrm',
        f'--before-install={work}/scripts/preinst',
        f'--before-remove={work}/scripts/prerm',
        '--category=misc', '--deb-no-default-config-files',
        '--deb-compression=zst', '--deb-compression-level=0',
        f'--deb-changelog={work}/changelog/Debian',
        f'--deb-upstream-changelog={work}/changelog/upstream',
        '--', f'{stage}/opt/acme/nova/=/opt/acme/nova', f'{work}/files/=/']
    assert artifact.path == tmp_path / 'out' / 'acme-nova_10.0-bbc1_all.deb'
    assert artifact.path.read_bytes() == b'package'
    assert (work / 'files/usr/share/lintian/overrides/acme-nova').is_file()
    assert 'adduser' in (work / 'scripts/postinst').read_text()
    assert 'echo pre' in (work / 'scripts/preinst').read_text()


def test_rpm_command_maps_every_field(tmp_path, fake_fpm):
    artifact, (argv, _, _) = build(tmp_path, fpm.FpmRpm, **FULL)
    work = tmp_path / 'work'
    assert argv[:12] == [
        fake_fpm, '--input-type=dir', '--output-type=rpm',
        '--name=acme-nova', '--version=10.0', '--iteration=bbc1',
        '--architecture=noarch', '--maintainer=ACME Ops <ops@acme.example>',
        '--vendor=ACME', '--description=Nova for ACME\nBuilt for ACME.',
        f'--package={work}/fpm-output.rpm', f'--workdir={work}/tmp']
    assert argv[12:argv.index('--')] == [
        '--epoch=1', '--license=Apache-2.0', '--url=https://acme.example/nova',
        '--depends=python3.11', '--depends=libxml2 >= 2.9',
        '--depends=shadow-utils', '--conflicts=nova-old',
        '--provides=nova-compute', '--replaces=nova-old < 10',
        '--config-files=/etc/sudoers.d/nova',
        f'--config-files={INSTALL}/etc/nova/nova.conf',
        f'--config-files={INSTALL}/etc/nova/rootwrap.d/compute.filters',
        f'--after-install={work}/scripts/postinst',
        f'--after-remove={work}/scripts/postrm',
        f'--before-install={work}/scripts/preinst',
        f'--before-remove={work}/scripts/prerm',
        '--category=Applications/System', '--rpm-summary=Nova for ACME',
        '--rpm-os=linux', '--rpm-digest=sha256', '--rpm-compression=xz',
        f'--directories={INSTALL}',
        '--rpm-rpmbuild-define=_build_id_links none',
        '--rpm-rpmbuild-define=_buildhost giftwrap',
        '--rpm-rpmbuild-define=use_source_date_epoch_as_buildtime 1',
        '--rpm-rpmbuild-define=clamp_mtime_to_source_date_epoch 1']
    assert argv[-2:] == [f'{tmp_path}/stage2/opt/acme/nova/=/opt/acme/nova',
                         f'{work}/files/=/']
    assert artifact.path.name == 'acme-nova-10.0-bbc1.noarch.rpm'
    # Debian's lintian overrides are not in the rpm.
    assert not (work / 'files/usr/share/lintian').exists()


def test_minimal_command_leaves_optional_fields_out(tmp_path, fake_fpm):
    _, (argv, _, _) = build(tmp_path, fpm.FpmDeb)
    names = [a.split('=', 1)[0] for a in argv[1:argv.index('--')]]
    assert '--epoch' not in names
    assert not any(n.startswith('--before') or n.startswith('--after')
                   for n in names)
    # Without a service there is only the lintian override to add.
    assert argv[argv.index('--') + 1:][-1].endswith('/files/=/')


def test_values_starting_with_a_dash_stay_values(tmp_path, fake_fpm):
    _, (argv, _, _) = build(tmp_path, fpm.FpmDeb, vendor='-rf',
                            maintainer='--help <h@example.org>',
                            license='-x')
    options = argv[1:argv.index('--')]
    assert '--vendor=-rf' in options and '--license=-x' in options
    assert '--maintainer=--help <h@example.org>' in options
    # Every option is one "--name=value" word; nothing else precedes "--".
    assert all(a.startswith('--') and ('=' in a or a in (
        '--deb-no-default-config-files',)) for a in options)


def test_fpm_runs_isolated_from_the_operators_environment(
        tmp_path, fake_fpm, monkeypatch):
    monkeypatch.setenv('FPMOPTS', '--after-install=/tmp/evil')
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '1700000000')
    monkeypatch.setenv('GEM_PATH', '/var/lib/gems')
    _, (argv, cwd, env) = build(tmp_path, fpm.FpmDeb)
    work = tmp_path / 'work'
    assert env == {'PATH': os.environ['PATH'], 'HOME': str(work / 'home'),
                   'LANG': 'C.UTF-8', 'SOURCE_DATE_EPOCH': '1700000000',
                   'GEM_PATH': '/var/lib/gems'}
    assert cwd == work / 'run' and not any(cwd.iterdir())


def test_the_build_time_is_the_contexts_else_the_operators_else_the_commits(
        tmp_path, monkeypatch):
    monkeypatch.delenv('SOURCE_DATE_EPOCH', raising=False)
    context = make_context(tmp_path)
    assert fpm.build_time(context) == 1735689600  # the commit: 2025-01-01
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '1700000000')
    assert fpm.build_time(context) == 1700000000
    context = dataclasses.replace(context, source_date_epoch=1600000000)
    assert fpm.build_time(context) == 1600000000
    env = fpm.fpm_environment(tmp_path, fpm.build_time(context))
    assert env['SOURCE_DATE_EPOCH'] == '1600000000'


def test_deb_changelogs_are_dated_at_the_build_time(tmp_path, fake_fpm,
                                                    monkeypatch):
    monkeypatch.delenv('SOURCE_DATE_EPOCH', raising=False)
    build(tmp_path, fpm.FpmDeb, epoch=1,
          maintainer='ACME Ops <ops@acme.example>')
    work = tmp_path / 'work'
    # One entry dpkg-parsechangelog reads; the version is the package's.
    debian = (work / 'changelog/Debian').read_text()
    assert debian.startswith(
        'acme-nova (1:10.0-bbc1) unstable; urgency=medium\n\n'
        '  * nova 10.0 built by giftwrap from ')
    assert debian.endswith(
        ' -- ACME Ops <ops@acme.example>  Wed, 01 Jan 2025 00:00:00 +0000\n')
    assert (work / 'changelog/upstream').read_text().startswith(
        f'nova 10.0 is commit {"a" * 40} of\n')
    # fpm writes both changelogs itself; the copyright is a generated file.
    doc = work / 'files/usr/share/doc/acme-nova'
    assert sorted(p.name for p in doc.iterdir()) == ['copyright']


@pytest.mark.parametrize('giturl, homepage', [
    ('https://bot:s3cret@git.acme.example/nova.git?x=1',
     'https://git.acme.example/nova.git'),
    ('git@git.acme.example:nova.git', ''),
    ('/srv/git/nova', '')])
def test_the_git_url_stands_in_for_a_missing_homepage(tmp_path, giturl,
                                                      homepage):
    builder = fpm.FpmRpm(make_context(tmp_path, giturl=giturl))
    target = dataclasses.replace(builder.context.package.target('rpm'),
                                 homepage='')
    assert builder.with_homepage(target).homepage == homepage
    given = dataclasses.replace(target, homepage='https://acme.example/')
    assert builder.with_homepage(given) == given


def test_rpm_doubles_percent_signs(tmp_path, fake_fpm):
    _, (argv, _, _) = build(
        tmp_path, fpm.FpmRpm, summary='100% %(rm -rf /)', license='50%',
        scripts={'postinst': 'date +%s\n'})
    assert '--rpm-summary=100%% %%(rm -rf /)' in argv
    assert '--license=50%%' in argv
    assert 'date +%%s' in (tmp_path / 'work/scripts/postinst').read_text()


def test_deb_keeps_percent_signs(tmp_path, fake_fpm):
    _, (argv, _, _) = build(tmp_path, fpm.FpmDeb, summary='100% sure')
    assert any(a.startswith('--description=100% sure\n') for a in argv)


@pytest.mark.parametrize('fields, key', [
    ({'description': 'line\n%post\nrm -rf /'}, 'description'),
    ({'scripts': {'postrm': '%postun\n'}}, 'scripts')])
def test_rpm_refuses_lines_starting_with_percent(tmp_path, fake_fpm,
                                                 fields, key):
    with pytest.raises(errors.BuildError, match='starting with "%"') as exc:
        build(tmp_path, fpm.FpmRpm, **fields)
    assert exc.value.where == f'{tmp_path}/manifest.yml:3'


@pytest.mark.parametrize('builder', [fpm.FpmDeb, fpm.FpmRpm])
def test_control_characters_are_refused(tmp_path, fake_fpm, builder):
    with pytest.raises(errors.BuildError, match='control character'):
        build(tmp_path, builder, maintainer='x\nDepends: evil')


def test_a_staging_path_with_equals_is_refused(tmp_path, fake_fpm):
    context = make_context(tmp_path)
    tree = make_tree(tmp_path / 'a=b')
    with pytest.raises(errors.BuildError, match='contains "="'):
        fpm.FpmDeb(context).build(tree)


def test_config_files_outside_the_virtualenv_are_mapped(tmp_path, fake_fpm):
    context = make_context(tmp_path)
    tree = make_tree(tmp_path / 'stage2')
    (tree.root / 'etc/nova').mkdir(parents=True)
    (tree.root / 'etc/nova/api-paste.ini').write_text('')
    tree = dataclasses.replace(tree, config_files=(
        PurePosixPath('/etc/nova/api-paste.ini'),))
    fpm.FpmDeb(context).build(tree)
    argv = context.runner.calls[0].argv
    assert f'{tree.root}/etc/nova/api-paste.ini=/etc/nova/api-paste.ini' \
        in argv[argv.index('--'):]


def test_missing_output_is_an_error(tmp_path, fake_fpm):
    context = make_context(tmp_path)
    silent = testing.RecordingRunner()  # fpm exits 0 but writes nothing
    context = dataclasses.replace(context, runner=silent)
    with pytest.raises(errors.BuildError, match='wrote no package'):
        fpm.FpmDeb(context).build(make_tree(tmp_path / 'stage2'))


@pytest.mark.parametrize('builder, choice, spelled', [
    (fpm.FpmDeb, 'zstd', '--deb-compression=zst'),
    (fpm.FpmDeb, 'gzip', '--deb-compression=gz'),
    (fpm.FpmRpm, 'bzip2', '--rpm-compression=bzip2')])
def test_compression(tmp_path, fake_fpm, builder, choice, spelled):
    options = drivers.validate_options(builder.options,
                                       {'compression': choice},
                                       driver_name='x')
    _, (argv, _, _) = build(tmp_path, builder, options)
    assert spelled in argv
    # fpm's level is for zstd alone (its gzip default is -9, xz -3).
    assert ('--deb-compression-level=0' in argv) == (choice == 'zstd')


def test_rpm_has_no_zstd_in_fpm():
    with pytest.raises(errors.DriverError, match='must be one of'):
        drivers.validate_options(fpm.FpmRpm.options, {'compression': 'zstd'},
                                 driver_name='fpm-rpm')


def test_missing_fpm_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv('PATH', str(tmp_path))
    if (Path(sys.executable).parent / 'fpm').exists():
        pytest.skip('fpm is installed beside the interpreter')
    with pytest.raises(errors.MissingToolError) as exc:
        fpm.FpmDeb.check_tools({})
    assert 'gem install fpm' in exc.value.hint
    assert [t.name for t in fpm.FpmRpm.tools] == ['fpm', 'rpmbuild']


def test_builders_are_registered_in_setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / 'setup.cfg')
    entries = dict(line.split(' = ') for line in config.get(
        'entry_points', 'giftwrap.builders').strip().splitlines())
    assert entries['fpm-deb'] == 'giftwrap.builders.fpm:FpmDeb'
    assert entries['fpm-rpm'] == 'giftwrap.builders.fpm:FpmRpm'


def test_build_type_package_prefers_fpm(fake_fpm, monkeypatch):
    monkeypatch.setattr(manifest, '_rpm_host', lambda: False)
    assert manifest.build_type_builders('package') == ['fpm-deb']
    monkeypatch.setattr(manifest, '_rpm_host', lambda: True)
    assert manifest.build_type_builders('package') == ['fpm-rpm']


def test_build_type_package_falls_back_to_nfpm(tmp_path, monkeypatch,
                                               caplog):
    if (Path(sys.executable).parent / 'fpm').exists():
        pytest.skip('fpm is installed beside the interpreter')
    monkeypatch.setenv('PATH', str(tmp_path))
    monkeypatch.setattr(manifest, '_rpm_host', lambda: False)
    monkeypatch.setattr(manifest, '_NOTICED', set())
    with caplog.at_level(logging.WARNING, logger='giftwrap.manifest.loader'):
        assert manifest.build_type_builders('package') == ['nfpm-deb']
    assert 'fpm is not installed' in caplog.text
    assert manifest.build_type_builders('docker') == ['docker']

"""Unit tests of the package description shared by every packager."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from giftwrap import errors
from giftwrap.manifest import versions
from giftwrap.package import description as package
from giftwrap.package import scripts
from giftwrap.package.builder import StagedTree
from tests.modelutil import INSTALL, PYTHON, make_project, make_tree


def describe(tmp_path, tree=None, **kw) -> package.PackageDescription:
    tree = tree or make_tree(tmp_path / 'stage')
    return package.describe(make_project(tmp_path, **kw), tree, PYTHON)


# -- the description from the manifest and METADATA ------------------------

def test_metadata_fills_what_the_manifest_leaves_empty(tmp_path):
    desc = describe(tmp_path)
    assert desc.summary == 'Cloud computing fabric controller'
    assert desc.license == 'Apache-2.0'
    assert desc.homepage == 'https://docs.openstack.org/nova/latest/'
    assert desc.maintainer == ('OpenStack '
                               '<openstack-discuss@lists.openstack.org>')
    assert desc.description.startswith('nova built by giftwrap from '
                                       'https://opendev.org/openstack/nova')


def test_the_manifest_wins_over_metadata(tmp_path):
    desc = describe(tmp_path, summary='Nova for ACME', license='MIT',
                    homepage='https://acme.example', vendor='ACME',
                    maintainer='Ops <ops@acme.example>', description='Ours.')
    assert (desc.summary, desc.license, desc.homepage, desc.vendor,
            desc.maintainer, desc.description) == (
        'Nova for ACME', 'MIT', 'https://acme.example', 'ACME',
        'Ops <ops@acme.example>', 'Ours.')


def test_without_metadata_giftwrap_defaults(tmp_path):
    desc = describe(tmp_path, tree=make_tree(tmp_path / 's', metadata=None))
    assert desc.summary == ('nova 10.0-bbc1 in a virtualenv at '
                            '/opt/acme/nova')
    assert desc.maintainer == package.DEFAULT_MAINTAINER
    assert desc.license == desc.homepage == ''


@pytest.mark.parametrize('headers, expected', [
    ('License-Expression: MIT OR Apache-2.0\nLicense: ignored\n',
     {'license': 'MIT OR Apache-2.0'}),
    ('License: Copyright (c) 2024\n  Permission is hereby granted\n',
     {'license': ''}),
    ('Project-URL: Documentation, https://docs.example\n'
     'Project-URL: Homepage, https://home.example\n',
     {'homepage': 'https://home.example'}),
    ('Author-email: Jane Doe <jane@example.org>, Bob <bob@example.org>\n',
     {'maintainer': 'Jane Doe <jane@example.org>'}),
    ('Maintainer: Team\nMaintainer-email: team@example.org\n'
     'Author: A\nAuthor-email: a@example.org\n',
     {'maintainer': 'Team <team@example.org>'}),
    ('Author: Nobody\n', {'maintainer': ''}),
    ('Summary: UNKNOWN\nHome-page: UNKNOWN\n',
     {'summary': '', 'homepage': ''}),
])
def test_metadata_fields(tmp_path, headers, expected):
    make_tree(tmp_path, f'Metadata-Version: 2.1\nName: nova\n{headers}\n',
              dist='Nova-10.0')
    meta = package.project_metadata(tmp_path / INSTALL.relative_to('/'),
                                    'nova')
    for field, value in expected.items():
        assert getattr(meta, field) == value


def test_depends_interpreter_first_and_epoch(tmp_path):
    desc = describe(tmp_path, epoch=2,
                    system_dependencies=('libxml2', 'python3.11'))
    assert desc.depends == ('python3.11', 'libxml2')
    assert desc.version == versions.PackageVersion('10.0', 'bbc1', 2)
    assert desc.version.deb == '2:10.0-bbc1'


def test_negative_epoch_is_refused(tmp_path):
    with pytest.raises(errors.ManifestError, match='negative'):
        describe(tmp_path, epoch=-1)


def test_files_under_install_path_etc_are_config_files(tmp_path):
    desc = describe(tmp_path)
    assert desc.config_files == (
        INSTALL / 'etc/nova/nova.conf',
        INSTALL / 'etc/nova/rootwrap.d/compute.filters')


# -- relations --------------------------------------------------------------

@pytest.mark.parametrize('value, deb, rpm', [
    ('libxml2', 'libxml2', 'libxml2'),
    ('libxml2 >= 2.9', 'libxml2 (>= 2.9)', 'libxml2 >= 2.9'),
    ('libxml2 (>= 2.9)', 'libxml2 (>= 2.9)', 'libxml2 >= 2.9'),
    ('foo < 2', 'foo (<< 2)', 'foo < 2'),
    ('foo (>> 1:2.0-1)', 'foo (>> 1:2.0-1)', 'foo > 1:2.0-1'),
])
def test_relations_are_spelled_for_each_format(value, deb, rpm):
    assert package.relations([value], 'deb') == (deb,)
    assert package.relations([value], 'rpm') == (rpm,)


def test_versioned_provides_are_exact_on_debian():
    assert package.relations(['nova-api >= 10'], 'deb', provides=True) == (
        'nova-api (= 10)',)


@pytest.mark.parametrize('value', [
    'a | b', 'a, b', 'a >= ', '-x', 'foo (>= 1', 'foo >= 1%{x}'])
def test_bad_relations_are_refused(tmp_path, value):
    with pytest.raises(errors.ManifestError, match='not "name"') as exc:
        describe(tmp_path, conflicts=(value,))
    assert exc.value.where == f'{tmp_path}/manifest.yml:3'


# -- targets ----------------------------------------------------------------

def test_target_spells_names_arch_and_relations(tmp_path):
    desc = describe(tmp_path, system_dependencies=('libxml2 >= 2.9',),
                    conflicts=('nova-old',), replaces=('nova-old < 10',),
                    provides=('nova-compute',))
    deb, rpm = desc.target('deb'), desc.target('rpm')
    assert (deb.name, deb.arch, deb.filename) == (
        'acme-nova', 'all', 'acme-nova_10.0-bbc1_all.deb')
    assert (rpm.name, rpm.arch, rpm.filename) == (
        'acme-nova', 'noarch', 'acme-nova-10.0-bbc1.noarch.rpm')
    assert deb.depends == ('python3.11', 'libxml2 (>= 2.9)')
    assert rpm.depends == ('python3.11', 'libxml2 >= 2.9')
    assert deb.replaces == ('nova-old (<< 10)',)
    assert (deb.conflicts, rpm.provides) == (('nova-old',), ('nova-compute',))
    assert deb.full_description.split('\n')[0] == deb.summary


def test_deb_name_is_normalized_once():
    desc = package.PackageDescription(
        name='Acme_Nova', version=versions.parse('1.0'), install_path=INSTALL,
        summary='x', native=True, machine='aarch64')
    assert desc.target('deb').name == 'acme-nova'
    assert desc.target('deb').filename == 'acme-nova_1.0-1_arm64.deb'
    assert desc.target('rpm').filename == 'Acme_Nova-1.0-1.aarch64.rpm'


def test_unknown_format_is_an_error():
    desc = package.PackageDescription(name='a', version=versions.parse('1'),
                                      install_path=INSTALL, summary='x')
    with pytest.raises(ValueError):
        desc.target('apk')


def test_a_service_user_adds_the_tool_that_creates_it(tmp_path):
    desc = describe(tmp_path, user='nova')
    assert desc.target('deb').depends[-1] == 'adduser'
    assert desc.target('rpm').depends[-1] == 'shadow-utils'
    assert 'adduser' not in describe(tmp_path / 'b').target('deb').depends


def test_lintian_overrides_ship_in_debs_only(tmp_path):
    desc = describe(tmp_path)
    override = PurePosixPath('/usr/share/lintian/overrides/acme-nova')
    deb = {f.dst: f for f in desc.target('deb').files}
    assert override in deb and not desc.target('rpm').files
    text = deb[override].text
    assert 'acme-nova: dir-or-file-in-opt' in text
    assert 'acme-nova: non-etc-file-marked-as-conffile' in text


def test_no_opt_override_outside_opt(tmp_path):
    desc = package.describe(
        make_project(tmp_path, install_path=PurePosixPath('/srv/nova')),
        StagedTree(root=tmp_path / 'empty',
                   install_path=PurePosixPath('/srv/nova')), PYTHON)
    (override,) = [f for f in desc.target('deb').files
                   if 'lintian' in f.dst.parts]
    assert 'dir-or-file-in-opt' not in override.text
    assert 'non-etc-file-marked-as-conffile' not in override.text


# -- service integration ----------------------------------------------------

SERVICE = dict(user='nova', directories=('/var/lib/nova', '/var/log/nova'),
               systemd_units={'nova-api.service': '[Service]\nExecStart=x\n'})


def test_service(tmp_path):
    desc = describe(tmp_path, **SERVICE)
    assert desc.service == package.Service(
        user='nova', group='nova', home='/var/lib/nova',
        directories=(PurePosixPath('/var/lib/nova'),
                     PurePosixPath('/var/log/nova')),
        units=('nova-api.service',))
    unit = {f.dst: f for f in desc.files}[
        PurePosixPath('/usr/lib/systemd/system/nova-api.service')]
    assert (unit.mode, unit.config, unit.text) == (
        0o644, False, '[Service]\nExecStart=x\n')


def test_deb_scripts_create_the_user_and_purge_directories(tmp_path):
    scripts_ = describe(tmp_path, **SERVICE).target('deb').scripts
    assert sorted(scripts_) == ['postinst', 'postrm', 'prerm']
    postinst = scripts_['postinst']
    assert postinst.startswith('#!/bin/sh\n') and '\nset -e\n' in postinst
    assert 'adduser --quiet --system --ingroup nova' in postinst
    assert 'install -d -m 0750 -o nova -g nova /var/lib/nova' in postinst
    assert 'daemon-reload' in postinst and 'enable' not in postinst
    assert 'rm -rf /var/log/nova' in scripts_['postrm']
    assert 'deluser' not in scripts_['postrm']  # accounts are kept
    assert 'deb-systemd-invoke stop nova-api.service' in scripts_['prerm']


def test_rpm_scripts_create_the_user_in_pre(tmp_path):
    scripts_ = describe(tmp_path, **SERVICE).target('rpm').scripts
    assert sorted(scripts_) == ['postinst', 'postrm', 'preinst', 'prerm']
    assert 'useradd -r -g nova' in scripts_['preinst']
    assert 'install -d -m 0750' in scripts_['postinst']
    assert 'rm -rf' not in scripts_['postrm']  # rpm has no purge


def test_enabled_units(tmp_path):
    desc = describe(tmp_path, systemd_enable=True, **SERVICE)
    assert 'deb-systemd-helper enable nova-api.service' in \
        desc.scripts['deb']['postinst']
    assert 'deb-systemd-helper purge nova-api.service' in \
        desc.scripts['deb']['postrm']
    assert 'systemctl --no-reload enable nova-api.service' in \
        desc.scripts['rpm']['postinst']


def test_no_service_and_no_scripts_means_no_scripts(tmp_path):
    desc = describe(tmp_path)
    assert desc.scripts == {'deb': {}, 'rpm': {}}


def test_directories_without_a_user_belong_to_root(tmp_path):
    postinst = describe(tmp_path, directories=('/var/lib/nova',)).scripts[
        'deb']['postinst']
    assert 'install -d -m 0755 -o root -g root /var/lib/nova' in postinst
    assert 'adduser' not in postinst


@pytest.mark.parametrize('fields, message', [
    ({'user': 'Nova'}, 'not a valid system account'),
    ({'user': 'nova', 'group': '-g'}, 'not a valid system account'),
    ({'group': 'nova'}, 'group is set without user'),
    ({'directories': ('/var/lib',)}, 'system directory'),
    ({'directories': ('/opt/acme',)}, 'system directory'),
    ({'directories': (f'{INSTALL}/var',)}, 'system directory'),
    ({'directories': ('var/lib/nova',)}, 'plain absolute path'),
    ({'directories': ('/var/lib/nova/../..',)}, 'plain absolute path'),
    ({'directories': ('/var/lib/nova dir',)}, 'plain absolute path'),
    ({'systemd_units': {'nova api': 'x'}}, 'not a systemd unit'),
    ({'sudoers': {'nova.conf': 'x'}}, 'sudoers.d file name'),
    ({'config_templates': {'etc/x': 'x'}}, 'plain absolute path'),
    ({'scripts': {'postinstall': 'true\n'}}, 'unknown maintainer script'),
])
def test_bad_service_values(tmp_path, fields, message):
    with pytest.raises(errors.ManifestError, match=message):
        describe(tmp_path, **fields)


def test_sudoers_and_config_templates(tmp_path):
    desc = describe(tmp_path, sudoers={'nova': 'nova ALL=(root) NOPASSWD: x'},
                    config_templates={'/etc/nova/rootwrap.conf': '[x]\n'})
    files = {f.dst: f for f in desc.files}
    sudoers = files[PurePosixPath('/etc/sudoers.d/nova')]
    assert (sudoers.mode, sudoers.config) == (0o440, True)
    assert sudoers.text.endswith('\n')  # sudo ignores an unterminated line
    assert PurePosixPath('/etc/nova/rootwrap.conf') in \
        desc.target('rpm').config_files


def test_a_generated_file_may_not_replace_a_staged_one(tmp_path):
    with pytest.raises(errors.ManifestError, match='written twice'):
        describe(tmp_path, config_templates={
            f'{INSTALL}/etc/nova/nova.conf': 'x'})


# -- templates --------------------------------------------------------------

def test_inline_text_is_not_rendered_again(tmp_path):
    # The manifest renders inline values; {{ in the result stays literal.
    desc = describe(tmp_path, scripts={'postinst': 'echo "{{ x }}"\n'})
    assert 'echo "{{ x }}"' in desc.scripts['deb']['postinst']


def test_template_files_are_rendered_relative_to_the_manifest(tmp_path):
    (tmp_path / 'units').mkdir()
    (tmp_path / 'units' / 'api.service.j2').write_text(
        'User={{ service.user }}\n'
        'ExecStart={{ install_path }}/bin/nova-api\n'
        '# {{ project.name }} {{ package.version }}\n')
    (tmp_path / 'post.sh.j2').write_text('echo {{ format }} {{ script }}\n')
    desc = describe(tmp_path, user='nova',
                    systemd_units={'nova-api.service': 'units/api.service.j2'},
                    scripts={'postinst': 'post.sh.j2'})
    unit = {f.dst: f.text for f in desc.files}[
        PurePosixPath('/usr/lib/systemd/system/nova-api.service')]
    assert unit == ('User=nova\nExecStart=/opt/acme/nova/bin/nova-api\n'
                    '# nova 10.0-bbc1\n')
    assert 'echo deb postinst' in desc.scripts['deb']['postinst']
    assert 'echo rpm postinst' in desc.scripts['rpm']['postinst']


@pytest.mark.parametrize('template, message', [
    ('{{ nothing }}', 'nothing'),
    ('{{ project.__class__.__mro__ }}', 'unsafe|not safely'),
    ('{% for %}', 'failed'),
])
def test_broken_templates_name_the_manifest_line(tmp_path, template, message):
    (tmp_path / 'x.j2').write_text(template)
    with pytest.raises(errors.ManifestError, match=message) as exc:
        describe(tmp_path, scripts={'postinst': 'x.j2'})
    assert exc.value.where == f'{tmp_path}/manifest.yml:3'


def test_missing_template_file(tmp_path):
    with pytest.raises(errors.ManifestError, match='cannot read'):
        describe(tmp_path, sudoers={'nova': 'nova.sudoers.j2'})


@pytest.mark.parametrize('value, is_file', [
    ('units/api.service.j2', True), ('  x.j2\n', True),
    ('echo x.j2\nexit 0', False), ('true', False), ('a.j2.txt', False)])
def test_which_values_name_template_files(value, is_file):
    assert scripts.is_template_file(value) is is_file


def test_written_files_and_scripts(tmp_path):
    target = describe(tmp_path, **SERVICE, sudoers={'nova': 'x'}).target(
        'deb')
    files = scripts.write_files(target, tmp_path / 'files')
    sudoers = files[PurePosixPath('/etc/sudoers.d/nova')]
    assert sudoers == tmp_path / 'files/etc/sudoers.d/nova'
    assert sudoers.stat().st_mode & 0o777 == 0o440
    written = scripts.write_scripts(target, tmp_path / 'scripts')
    assert written['postinst'].read_text() == target.scripts['postinst']
    assert written['postinst'].stat().st_mode & 0o777 == 0o755
    # A second build starts from an empty directory.
    (tmp_path / 'scripts' / 'stale').write_text('')
    scripts.write_scripts(target, tmp_path / 'scripts')
    assert not (tmp_path / 'scripts' / 'stale').exists()


# -- system dependencies (giftwrap.package.sysdeps) ---------------------------------

def test_bindep_and_discovered_dependencies_per_format(tmp_path):
    from giftwrap.package import sysdeps
    (tmp_path / 'src').mkdir()
    (tmp_path / 'src' / 'bindep.txt').write_text(
        'libxml2 [platform:dpkg runtime]\nlibxml2-libs [platform:rpm runtime]\n'
        'libxml2-dev [platform:dpkg compile]\nmariadb-server\n')
    found = sysdeps.Discovered(
        (sysdeps.Library('libyaml-0.so.2', 2, 62, 'x/_yaml.so'),),
        {'deb': (sysdeps.Dependency('libyaml-0-2', 'libyaml-0.so.2'),),
         'rpm': (sysdeps.Dependency('libyaml-0.so.2()(64bit)',
                                    'libyaml-0.so.2'),)})
    desc = package.describe(
        make_project(tmp_path, system_dependencies={'all': ['tzdata'],
                                                    'deb': ['libssl3']},
                     bindep_profiles=['runtime']),
        make_tree(tmp_path / 'stage'), PYTHON,
        bindep=sysdeps.read_bindep(tmp_path / 'src'), discovered=found)
    assert desc.depends == ('python3.11', 'tzdata')
    assert desc.target('deb').depends == (
        'python3.11', 'tzdata', 'libssl3', 'libxml2', 'libyaml-0-2')
    assert desc.target('rpm').depends == (
        'python3.11', 'tzdata', 'libxml2-libs', 'libyaml-0.so.2()(64bit)')


def test_a_library_no_package_owns_fails_that_format_only(tmp_path):
    from giftwrap.package import sysdeps
    found = sysdeps.Discovered(
        (sysdeps.Library('libodd.so.1', 2, 62, 'x/_odd.so'),),
        {'deb': (sysdeps.Dependency('', 'libodd.so.1'),),
         'rpm': (sysdeps.Dependency('libodd.so.1()(64bit)', 'libodd.so.1'),)})
    desc = package.describe(make_project(tmp_path),
                            make_tree(tmp_path / 'stage'), PYTHON,
                            discovered=found)
    with pytest.raises(errors.BuildError,
                       match=r'no installed deb package owns libodd.so.1 '
                             r'\(needed by x/_odd.so\)'):
        desc.target('deb')
    assert desc.target('rpm').depends[-1] == 'libodd.so.1()(64bit)'


@pytest.mark.parametrize('fields', [
    {'system_dependencies': {'deb': ['a | b']}},
    {'system_dependencies_replace': {'libodd.so.1': 'x, y'}}])
def test_every_declared_relation_is_checked(tmp_path, fields):
    with pytest.raises(errors.ManifestError, match='not "name"'):
        describe(tmp_path, **fields)


# -- side by side: update-alternatives ----------------------------------------

def tree_with_scripts(tmp_path) -> StagedTree:
    tree = make_tree(tmp_path / 'stage')
    dist = tree.venv / 'lib/python3.11/site-packages/nova-10.0.dist-info'
    (dist / 'entry_points.txt').write_text(
        '[console_scripts]\nnova-api = nova.cmd.api:main\n'
        'Nova-Manage = nova.cmd.manage:main\n\n'
        '[nova.drivers]\nfake = nova.virt.fake:Fake\n')
    (tree.venv / 'bin').mkdir()
    for name in ('nova-api', 'Nova-Manage', 'pip'):
        (tree.venv / 'bin' / name).write_text('#!/bin/sh\n')
    return tree


def test_link_executables_registers_console_scripts(tmp_path):
    desc = package.describe(
        make_project(tmp_path, link_executables='/usr/local/bin'),
        tree_with_scripts(tmp_path), PYTHON)
    assert [(a.name, str(a.link), str(a.path)) for a in desc.alternatives] \
        == [('Nova-Manage', '/usr/local/bin/Nova-Manage',
             '/opt/acme/nova/bin/Nova-Manage'),
            ('nova-api', '/usr/local/bin/nova-api',
             '/opt/acme/nova/bin/nova-api')]
    deb, rpm = desc.target('deb'), desc.target('rpm')
    install = ('update-alternatives --install /usr/local/bin/nova-api '
               'nova-api /opt/acme/nova/bin/nova-api 10000000')
    remove = 'update-alternatives --remove nova-api /opt/acme/nova/bin/nova-api'
    assert install in deb.scripts['postinst'] and remove in deb.scripts['prerm']
    assert install in rpm.scripts['postinst'] and remove in rpm.scripts['prerm']
    assert 'if [ "$1" -eq 0 ]; then' in rpm.scripts['prerm']
    assert rpm.depends[-1] == '/usr/sbin/update-alternatives'
    assert deb.depends == ('python3.11',)  # dpkg has update-alternatives


def test_no_links_without_link_executables(tmp_path):
    desc = describe(tmp_path, tree=tree_with_scripts(tmp_path))
    assert desc.alternatives == () and not desc.scripts['deb']


@pytest.mark.parametrize('value', ['usr/local/bin', '/usr/local/bin/../x',
                                   '/usr/local bin'])
def test_link_executables_must_be_a_plain_absolute_path(tmp_path, value):
    with pytest.raises(errors.ManifestError, match='link_executables'):
        describe(tmp_path, link_executables=value)


@pytest.mark.parametrize('older, newer', [
    ('9.0', '10.0'), ('2025.1', '2025.2'), ('1.0.1', '1.1'),
    ('2024.2.5', '2025.1.0')])
def test_newer_versions_get_higher_priorities(older, newer):
    def priority(v):
        return scripts.alternative_priority(versions.parse(v))
    assert 0 < priority(older) < priority(newer) <= 2 ** 31 - 1


# -- strip: pycache ---------------------------------------------------------------

def test_byte_code_compiled_at_install_and_removed_before(tmp_path):
    desc = describe(tmp_path, strip=('pycache',))
    assert desc.compile_at_install
    for fmt in ('deb', 'rpm'):
        target = desc.target(fmt)
        assert ("/opt/acme/nova/bin/python -m compileall -q /opt/acme/nova/lib"
                in target.scripts['postinst'])
        assert ('find /opt/acme/nova/lib -depth -type d -name __pycache__'
                in target.scripts['prerm'])

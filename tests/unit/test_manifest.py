"""The manifest model: keys, types, merging, templates and their errors."""

from __future__ import annotations

import textwrap
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import errors
from giftwrap.manifest import loader as manifest

HERE = Path(__file__).parent / 'manifests'
EXAMPLES = Path(__file__).parents[2] / 'examples'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(text))
    return path


# fixture file, expected line, words the message must contain, hint words
BAD = [
    ('yaml_syntax.yml', 6, 'YAML syntax error', 'quot'),
    ('unknown_key.yml', 3, "unknown settings key 'pakage_name_format'",
     "did you mean 'package_name_format'"),
    ('unknown_project_key.yml', 5, "unknown project key 'git_ref'",
     "did you mean 'gitref'"),
    ('wrong_type.yml', 5, "'gitdepth' must be a whole number", None),
    ('float_version.yml', 2, "'version' must be a string", 'quote it'),
    ('missing_version.yml', 4, "project 'nova' has no version", '-v'),
    ('undefined_name.yml', 3, 'undefined name', 'settings.<key>'),
    ('cycle.yml', 3, 'template cycle', 'refer back'),
    ('path_name.yml', 4, 'is not a plain name', 'no "/"'),
    ('duplicate_name.yml', 6, 'listed twice (first at line 4)', None),
    ('relative_install_path.yml', 5, 'must be an absolute path', None),
    ('venv_command.yml', 5, "'venv_command' is no longer supported",
     'python:'),
    ('bad_version.yml', 2, 'cannot be used for packages', 'UPSTREAM-RELEASE'),
    ('duplicate_key.yml', 3, "duplicate key 'version'", None),
    ('no_projects.yml', 1, 'lists no projects', 'projects:'),
    ('not_mapping.yml', 1, 'must be a mapping',
     'The manifest" in giftwrap\'s documentation (doc/source/manifest.rst)'),
    ('template_security.yml', 2, 'not allowed', None),
    ('pip_option.yml', 5, "lists '--extra-index-url=", 'PIP_INDEX_URL'),
]


@pytest.mark.parametrize('name,line,what,hint', BAD, ids=[b[0] for b in BAD])
def test_bad_manifest(name, line, what, hint):
    path = HERE / name
    with pytest.raises(errors.ManifestError) as info:
        manifest.load(path)
    err = info.value
    assert what in err.what
    assert err.where == f'{path}:{line}'
    if hint:
        assert hint in (err.hint or '')
    assert err.exit_code == 2


def test_defaults(tmp_path):
    m = manifest.load(write(tmp_path, """
        settings:
          version: '2025.1-acme1'
        projects:
          - name: nova
        """))
    p = m.render('nova')
    assert p.package_name == 'openstack-nova'
    assert p.install_path == PurePosixPath('/opt/openstack/nova')
    assert p.giturl == 'https://opendev.org/openstack/nova'
    assert p.gitref == 'master'
    assert p.python == '/usr/bin/python3'
    assert p.resolver == 'upper-constraints'
    assert p.package_version.deb == '2025.1-acme1'
    assert (p.package_version.upstream, p.package_version.release) == (
        '2025.1', 'acme1')


def test_version_without_dash_uses_iteration(tmp_path):
    m = manifest.load(write(tmp_path, """
        settings: {version: '2025.1', iteration: '3'}
        projects: [{name: nova}]
        """))
    v = m.render('nova').package_version
    assert (v.deb, v.upstream, v.release) == ('2025.1-3', '2025.1', '3')


def test_merging(tmp_path):
    m = manifest.load(write(tmp_path, """
        settings:
          version: '1.0'
          system_dependencies: [libssl3]
          pip_dependencies: [pymysql]
          builders: [nfpm-deb]
          builder_options:
            nfpm-deb: {compression: xz}
            nfpm-rpm: {compression: gzip}
        projects:
          - name: nova
            system_dependencies: [libvirt0]
            builders: [nfpm-rpm]
            builder_options:
              nfpm-deb: {compression: gzip}
        """))
    p = m.render('nova')
    assert p.system_dependencies == ('libssl3', 'libvirt0')
    assert p.pip_dependencies == ('pymysql',)
    assert p.builders == ('nfpm-rpm',)
    assert dict(p.builder_options['nfpm-deb']) == {'compression': 'gzip'}
    assert dict(p.builder_options['nfpm-rpm']) == {'compression': 'gzip'}


def test_templates_refer_to_each_other(tmp_path):
    m = manifest.load(write(tmp_path, """
        settings:
          version: '2025.1-acme1'
          base_path: '/opt/openstack/{{ version }}'
          package_name_format: 'acme-{{ project.name }}-{{ settings.version.split("-")[0] }}'
        projects:
          - name: nova
            gitref: stable/2025.1
            pip_dependencies: ['nova-plugin-{{ gitref.split("/")[1] }}']
        """))
    p = m.render('nova')
    assert p.install_path == PurePosixPath('/opt/openstack/2025.1-acme1/nova')
    assert p.package_name == 'acme-nova-2025.1'
    assert p.pip_dependencies == ('nova-plugin-2025.1',)


def test_source_templates(tmp_path):
    m = manifest.load(write(tmp_path, """
        settings:
          version: '1.0.{{ project.commit_date }}-{{ project.commit_short }}'
        projects: [{name: nova}]
        """))
    shown = m.render('nova', display=True)
    assert shown.version == '1.0.<commit_date>-<commit_short>'
    assert 'version' in shown.source_dependent
    real = m.render('nova', {'commit': 'a' * 40, 'commit_short': 'aaaaaaa',
                             'commit_date': '20251124120000',
                             'source_version': '1.0'})
    assert real.package_version.deb == '1.0.20251124120000-aaaaaaa'


def test_2014_aliases(tmp_path):
    m = manifest.load(write(tmp_path, """
        settings:
          version: '1.0'
          build_type: docker
          gerrit_dependencies: true
        projects:
          - name: nova
          - name: glance
            constraints: ['https://example.invalid/uc.txt']
            gerrit_dependencies: false
          - name: murano
            stackforge: true
        """))
    nova, glance, murano = (m.render(n) for n in ('nova', 'glance', 'murano'))
    assert nova.builders == ('docker',)
    assert nova.resolver == 'gerrit-logs'
    assert glance.resolver == 'upper-constraints'
    assert list(glance.resolver_options['upper-constraints']['urls']) == [
        'https://example.invalid/uc.txt']
    assert murano.giturl == 'https://opendev.org/x/murano'


def test_local_giturl_is_relative_to_manifest(tmp_path):
    m = manifest.load(write(tmp_path, """
        settings: {version: '1.0'}
        projects: [{name: nova, giturl: ../src/nova}]
        """))
    assert m.render('nova').giturl == str((tmp_path.parent / 'src/nova'))


def test_version_override(tmp_path):
    m = manifest.load(write(tmp_path, """
        projects: [{name: nova}]
        """), version='2026.1-x1')
    assert m.render('nova').package_version.deb == '2026.1-x1'


# (file, package name, install path) as the 2014 tool rendered them: see
# examples/giftwrap-2014/README.rst (copies of shared/reference/giftwrap-2014)
RENDERED_2014 = [
    ('2014-06-sample.yml', 'glance', 'openstack-glance-9.0-bbc5',
     '/opt/giftwrap/openstack-9.0-bbc5/glance'),
    ('2014-12-manifest.yml', 'glance', 'openstack-glance-10.0-bbc1',
     '/opt/bbc/openstack-10.0-bbc1/glance'),
    ('2015-09-manifest.yml', 'glance', 'openstack-glance-10.0-bbc1',
     '/opt/bbc/openstack-10.0-bbc1/glance'),
    ('2015-09-docker-manifest.yml', 'glance', 'openstack-glance-10.0-bbc1',
     '/openstack/glance'),
    ('2015-09-docker-manifest.yml', 'heat', 'openstack-heat-10.0-bbc1',
     '/openstack/heat'),
    ('2016-manifest-constraints.yml', 'glance', 'openstack-glance-2016.1-bbc1',
     '/opt/bbc/openstack-2016.1-bbc1/glance'),
]


@pytest.mark.parametrize('name,project,package,path', RENDERED_2014)
def test_2014_manifests_render_as_they_did(name, project, package, path):
    m = manifest.load(EXAMPLES / 'giftwrap-2014' / name)
    p = m.render(project)
    assert p.package_name == package
    assert str(p.install_path) == path

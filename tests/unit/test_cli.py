"""The giftwrap App: commands, options, output formats and exit statuses."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from giftwrap import errors

MANIFESTS = Path(__file__).parent / 'manifests'
EXAMPLES = Path(__file__).parents[2] / 'examples'


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_list_builders(cli):
    result = cli('list-builders', '-f', 'json')
    assert result.status == 0
    rows = {r['Name']: r for r in json.loads(result.stdout)}
    assert {'nfpm-deb', 'nfpm-rpm'} <= set(rows)
    assert rows['nfpm-deb']['Distribution'].startswith('giftwrap')
    assert rows['nfpm-deb']['Summary']


def test_list_resolvers(cli):
    result = cli('list-resolvers', '-f', 'value', '-c', 'Name')
    assert result.status == 0
    assert {'requirements-file', 'upper-constraints'} <= set(
        result.stdout.split())


def test_build_v_is_the_release_version(cli, tmp_path):
    # cliff would read "-v" as --verbose and "--version" as its own version.
    path = write(tmp_path, """
        projects: [{name: nova, builders: [nfpm-deb]}]
        """)
    for flag in ('-v', '--version'):
        result = cli('build', '-m', path, flag, '2025.1-acme1', '--dry-run',
                     '-f', 'json')
        assert result.status == 0, result.stderr
        row, = json.loads(result.stdout)
        assert row['Deb version'] == '2025.1-acme1'
        assert (row['Rpm version'], row['Rpm release']) == ('2025.1', 'acme1')


def test_dry_run_2014_manifest(cli):
    path = EXAMPLES / 'giftwrap-2014' / '2014-12-manifest.yml'
    result = cli('build', '-m', str(path), '--dry-run', '-f', 'json')
    assert result.status == 0, result.stderr
    row, = json.loads(result.stdout)
    assert row['Package'] == 'openstack-glance-10.0-bbc1'
    assert row['Install path'] == '/opt/bbc/openstack-10.0-bbc1/glance'
    assert row['Git ref'] == 'stable/juno'
    assert row['Resolver'] == 'upper-constraints'


def test_dry_run_shows_source_templates_unresolved(cli, tmp_path):
    path = write(tmp_path, """
        settings: {version: '1.0+git{{ project.commit_date }}-1', builders: [nfpm-deb]}
        projects: [{name: nova}]
        """)
    result = cli('build', '-m', path, '--dry-run', '-f', 'json')
    row, = json.loads(result.stdout)
    assert row['Deb version'] == '1.0+git<commit_date>-1'


def test_type_and_projects_select(cli, tmp_path):
    path = write(tmp_path, """
        settings: {version: '1.0'}
        projects: [{name: nova}, {name: glance}]
        """)
    result = cli('build', '-m', path, '--dry-run', '-t', 'nfpm-rpm,nfpm-deb',
                 '-p', 'glance', '-f', 'json')
    row, = json.loads(result.stdout)
    assert (row['Project'], row['Builders']) == ('glance', ['nfpm-rpm', 'nfpm-deb'])


@pytest.mark.parametrize('name,status', [
    ('unknown_key.yml', errors.ManifestError.exit_code),
    ('unknown_builder.yml', errors.DriverError.exit_code),
    ('unknown_resolver.yml', errors.DriverError.exit_code),
    ('bad_builder_option.yml', errors.DriverError.exit_code),
])
def test_errors_exit_status_without_traceback(cli, tmp_path, name, status):
    out = tmp_path / 'out'
    result = cli('build', '-m', str(MANIFESTS / name), '-o', str(out))
    assert result.status == status
    assert 'Traceback' not in result.stderr
    assert 'hint:' in result.stderr
    assert not out.exists()


def test_unknown_builder_names_the_available_ones(cli):
    result = cli('validate', '-m', str(MANIFESTS / 'unknown_builder.yml'))
    assert "unknown builder 'nfpm-dbe'" in result.stderr
    assert "did you mean 'nfpm-deb'" in result.stderr
    assert 'unknown_builder.yml:3' in result.stderr


def test_debug_shows_traceback(cli):
    result = cli('--debug', 'validate', '-m', str(MANIFESTS / 'unknown_key.yml'))
    assert result.status == errors.ManifestError.exit_code
    assert 'Traceback' in result.stderr


def test_validate_ok(cli, tmp_path):
    path = write(tmp_path, """
        settings: {version: '1.0', builders: [nfpm-deb]}
        projects: [{name: nova}]
        """)
    result = cli('validate', '-m', path)
    assert result.status == 0
    assert 'valid' in result.stdout


def test_unknown_project_selected(cli, tmp_path):
    path = write(tmp_path, """
        settings: {version: '1.0'}
        projects: [{name: nova}]
        """)
    result = cli('build', '-m', path, '-p', 'noav', '--dry-run')
    assert result.status == errors.ManifestError.exit_code
    assert "did you mean 'nova'" in result.stderr


def test_pyenv_interpreter_refused_for_packages(cli, tmp_path):
    import shutil
    import subprocess
    real = Path(sys.executable).resolve()
    owned = subprocess.run(['dpkg-query', '-S', '--', str(real)],
                           capture_output=True).returncode == 0 \
        if shutil.which('dpkg-query') else True
    if owned:
        pytest.skip(f'{real} belongs to a system package here')
    path = write(tmp_path, f"""
        settings: {{version: '1.0', builders: [nfpm-deb], python: '{real}'}}
        projects: [{{name: nova}}]
        """)
    # not run at all unless the operator trusts it
    result = cli('validate', '-m', path)
    assert result.status == errors.ManifestError.exit_code
    assert f'--interpreter {real}' in result.stderr
    # trusted, it still cannot be a package's dependency
    result = cli('validate', '--interpreter', str(real), '-m', path)
    assert result.status == errors.BuildError.exit_code
    assert 'belongs to no system package' in result.stderr


def test_no_arguments_prints_help(cli):
    result = cli()
    assert result.status == 0
    assert 'list-builders' in result.stdout

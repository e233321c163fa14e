"""Readable and machine-readable output: the summary of a failure, -f json
fields, show-builder/show-resolver/show-executor, validate -f json, help."""

from __future__ import annotations

import importlib.metadata
import json
import textwrap
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.cli.commands import output
from giftwrap.run.outcome import FAILED, Outcome

TAIL = '\n'.join(f'cc: warning {n}' for n in range(40)) + '\nerror: boom'


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(text))
    return str(path)


# -- help -----------------------------------------------------------------

def test_giftwrap_alone_describes_itself(cli):
    result = cli()
    assert result.status == 0
    assert 'Build pinned, versioned virtualenv packages' in result.stdout
    assert 'cliff App' not in result.stdout  # not the module's docstring
    # the getting-started commands stay one per line, to be copied
    assert '\n  giftwrap build -m manifest.yml --dry-run' in result.stdout


COMMANDS = sorted(ep.name for ep in importlib.metadata.entry_points(
    group='giftwrap.commands'))


@pytest.mark.parametrize('name', COMMANDS)
def test_every_command_has_an_example(cli, name):
    words = name.split('_')  # cliff's spelling of "cache list"
    result = cli('help', *words)
    assert result.status == 0, result.stderr
    examples = result.stdout.split('\nexamples:\n', 1)[1]
    assert f'\n  giftwrap {" ".join(words)}' in '\n' + examples


# -- the build summary ----------------------------------------------------

def test_a_failure_is_one_line_its_tail_in_the_details(tmp_path):
    log = tmp_path / 'nova.log'
    log.write_text('everything\n')
    exc = errors.CommandError('pip failed with exit status 1',
                              where='project nova (virtualenv): pip install',
                              output=TAIL, hint='install libfoo-dev')
    outcome = Outcome.failed('nova', 'nfpm-deb', exc, log)
    assert outcome.status == FAILED
    assert outcome.message == ('project nova (virtualenv): pip install: pip '
                               'failed with exit status 1')
    assert outcome.details == TAIL
    assert (outcome.hint, outcome.log) == ('install libfoo-dev', str(log))


def test_the_further_lines_of_an_error_are_details_too():
    exc = errors.ResolveError('two pins conflict:\n  a==1\n  a==2')
    outcome = Outcome.failed('nova', 'lock', exc, Path('/nonexistent.log'))
    assert outcome.message == 'two pins conflict:'
    assert outcome.details == '  a==1\n  a==2'
    assert outcome.log == ''  # no log was written


def test_explain_writes_each_failure_once():
    row = {'Project': 'nova', 'Message': 'project nova (virtualenv): failed',
           'Details': TAIL, 'Hint': 'install libfoo-dev', 'Log': '/x.log'}
    text = output.explain([row, {**row}, {**row, 'Details': '', 'Hint': ''}],
                          'Project')
    assert text.count('error: boom') == 1  # two builders, one failure
    assert text.startswith('[nova] project nova (virtualenv): failed\n'
                           '    cc: warning 0\n')
    assert text.endswith('    error: boom\n  hint: install libfoo-dev\n')
    assert output.explain([{**row, 'Details': '', 'Hint': ''}],
                          'Project') == ''


BROKEN = """
    settings: {version: '1.0'}
    projects:
      - name: broken
        giturl: %s
        builders: [nfpm-deb, nfpm-rpm]
    """


def test_a_failed_build_in_a_table(cli, tmp_path):
    path = write(tmp_path, BROKEN % (tmp_path / 'no-such-repo'))
    result = cli('build', '-m', path, '-o', str(tmp_path / 'out'))
    assert result.status == errors.SourceError.exit_code
    table = result.stdout
    assert 'project broken (clone):' in table
    assert 'log: ' in table and 'broken.log' in table
    assert 'hint' not in table  # below the table, on stderr
    assert 'Details' not in table and '| Log' not in table
    hint = "hint: check the project's git URL"
    assert result.stderr.count(hint) == 1  # two builders, one failure
    assert '[broken] project broken (clone):' in result.stderr


def test_a_failed_build_as_json(cli, tmp_path):
    path = write(tmp_path, BROKEN % (tmp_path / 'no-such-repo'))
    result = cli('build', '-m', path, '-o', str(tmp_path / 'out'),
                 '-f', 'json')
    assert result.status == errors.SourceError.exit_code
    rows = json.loads(result.stdout)
    assert [r['Builder'] for r in rows] == ['nfpm-deb', 'nfpm-rpm']
    row = rows[0]
    assert list(row) == ['Project', 'Builder', 'Status', 'Artifact',
                         'Message', 'Details', 'Hint', 'Log']
    assert row['Message'].startswith('project broken (clone): ')
    assert '\n' not in row['Message']
    assert "check the project's git URL" in row['Hint']
    assert Path(row['Log']).is_file()
    # the fields, not stderr, carry the failure with -f json
    assert 'hint:' not in result.stderr


def test_table_columns_can_still_be_chosen(cli, tmp_path):
    path = write(tmp_path, BROKEN % (tmp_path / 'no-such-repo'))
    result = cli('build', '-m', path, '-o', str(tmp_path / 'out'),
                 '-f', 'value', '-c', 'Builder', '-c', 'Hint')
    assert result.stdout.splitlines()[0].startswith(
        "nfpm-deb check the project's git URL")


def test_dry_run_builders_are_a_list(cli, tmp_path):
    path = write(tmp_path, """
        settings: {version: '1.0'}
        projects: [{name: nova, builders: [nfpm-deb, nfpm-rpm]}]
        """)
    row, = json.loads(cli('build', '-m', path, '--dry-run',
                          '-f', 'json').stdout)
    assert row['Builders'] == ['nfpm-deb', 'nfpm-rpm']
    table = cli('build', '-m', path, '--dry-run').stdout
    assert 'nfpm-deb, nfpm-rpm' in table


# -- show-builder, show-resolver, show-executor ----------------------------

def test_show_builder_as_json(cli):
    result = cli('show-builder', 'nfpm-deb', '-f', 'json')
    assert result.status == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown['Name'] == 'nfpm-deb'
    assert shown['Summary'].startswith('A Debian package')
    assert shown['Distribution'].startswith('giftwrap ')
    assert shown['Entry point'] == 'giftwrap.builders.nfpm:NfpmDeb'
    options = {o['name']: o for o in shown['Options']}
    assert options['compression'] == {
        'name': 'compression', 'type': 'str', 'default': 'zstd',
        'choices': ['zstd', 'xz', 'gzip', 'none'],
        'help': options['compression']['help']}
    assert options['compression']['help']
    assert options['compression_level']['type'] == 'int'


def test_show_resolver_in_a_table(cli):
    result = cli('show-resolver', 'upper-constraints')
    assert result.status == 0, result.stderr
    assert 'urls (list): several constraints files' in result.stdout
    assert 'giftwrap.resolvers.upper_constraints:UpperConstraints' \
        in result.stdout


@pytest.mark.parametrize('command, name, kind, close', [
    ('show-builder', 'nfpm', 'builder', "did you mean 'nfpm-"),
    ('show-resolver', 'upper', 'resolver', 'available: gerrit-logs'),
])
def test_an_unknown_driver_is_a_clear_error(cli, command, name, kind, close):
    result = cli(command, name)
    assert result.status == errors.DriverError.exit_code
    assert f"unknown {kind} '{name}'" in result.stderr
    assert close in result.stderr
    assert 'Traceback' not in result.stderr
    assert result.stdout == ''


@pytest.fixture
def executor(tmp_path, monkeypatch):
    """A third-party package registering an executor, installed on
    sys.path as pip would (a module and its dist-info)."""
    (tmp_path / 'acme_executor.py').write_text(textwrap.dedent('''\
        from giftwrap.plugins import Option


        class Remote:
            """Runs the jobs on the build farm.

            One job per farm slot.
            """

            options = {'slots': Option(int, 4, help='jobs at once')}
        '''))
    dist = tmp_path / 'acme_executor-1.2.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: acme-executor\nVersion: 1.2\n')
    (dist / 'entry_points.txt').write_text(
        '[giftwrap.executors]\nremote = acme_executor:Remote\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    # stevedore keeps each namespace's entry points for the process: a
    # test that loaded an executor before must not hide this one
    from stevedore import extension
    monkeypatch.setattr(extension.ExtensionManager, 'ENTRY_POINT_CACHE', {})


def test_show_executor_of_a_registered_executor(cli, executor):
    result = cli('show-executor', 'remote', '-f', 'json')
    assert result.status == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown['Summary'], shown['Description']) == (
        'Runs the jobs on the build farm.', 'One job per farm slot.')
    assert shown['Distribution'] == 'acme-executor 1.2'
    assert shown['Options'] == [{'name': 'slots', 'type': 'int',
                                 'default': 4, 'choices': [],
                                 'help': 'jobs at once'}]
    unknown = cli('show-executor', 'remot')
    assert unknown.status == errors.DriverError.exit_code
    assert "unknown executor 'remot'" in unknown.stderr
    assert "did you mean 'remote'?" in unknown.stderr


# -- validate -f json -----------------------------------------------------

def test_validate_as_json(cli, tmp_path):
    path = write(tmp_path, """
        settings: {version: '1.0', resolver: requirements-file}
        projects:
          - {name: nova, builders: [nfpm-deb, nfpm-rpm]}
          - {name: glance, builders: [nfpm-deb]}
        """)
    result = cli('validate', '-m', path, '-f', 'json')
    assert result.status == 0, result.stderr
    assert json.loads(result.stdout) == {
        'Manifest': path, 'Valid': True, 'Projects': ['nova', 'glance'],
        'Builders': ['nfpm-deb', 'nfpm-rpm'],
        'Resolvers': ['requirements-file']}


def test_an_invalid_manifest_as_json(cli, tmp_path):
    path = write(tmp_path, """
        settings: {version: '1.0'}
        projects:
          - {name: nova, builders: [nfpm-dbe]}
        """)
    result = cli('validate', '-m', path, '-f', 'json')
    assert result.status == errors.DriverError.exit_code
    shown = json.loads(result.stdout)
    assert (shown['Valid'], shown['Kind']) == (False, 'driver')
    assert shown['Error'] == "unknown builder 'nfpm-dbe'"
    assert shown['Where'] == f'{path}:4'
    assert "did you mean 'nfpm-deb'?" in shown['Hint']
    assert "unknown builder 'nfpm-dbe'" in result.stderr  # as always
    table = cli('validate', '-m', path)
    assert table.status == errors.DriverError.exit_code
    assert table.stdout == ''  # a table: the error alone, on stderr


def test_a_failed_verification_in_the_build_summary():
    from giftwrap.run import verify
    from giftwrap.cli.commands.verify import _build_row
    failed = verify.Outcome(Path('out/nova.deb'), 'debian:bookworm',
                            verify.FAILED, ('libfoo1', 'nova'),
                            'smoke command nova failed with exit status 3',
                            details='boom')
    row = dict(zip(('Project', 'Builder', 'Status', 'Artifact', 'Message',
                    *output.DETAIL_COLUMNS), _build_row('nova', failed)))
    assert row['Message'] == ('debian:bookworm: smoke command nova failed '
                              'with exit status 3')
    assert row['Details'] == 'boom\nadded 2: libfoo1 nova'
    passed = verify.Outcome(Path('out/nova.deb'), 'debian:bookworm',
                            verify.PASSED, ('nova',), 'installed')
    assert _build_row('nova', passed)[4:] == (
        'debian:bookworm: installed\n  added 1: nova', '', '', '')

"""The interpreter probe runs only interpreters giftwrap trusts.

The manifest may name an absolute path that resolves to a Python a system
package owns; anything else needs the operator's ``--interpreter``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from giftwrap import errors, testing
from giftwrap.venv import interpreter
from giftwrap.util.process import Result

SYSTEM_PYTHON = '/usr/bin/python3.11'
needs_dpkg = pytest.mark.skipif(
    not shutil.which('dpkg-query') or not os.path.exists(SYSTEM_PYTHON),
    reason='needs dpkg and Debian\'s python3.11')


def manifest(tmp_path: Path, python: str, builders: str = 'nfpm-deb') -> str:
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(f"""\
        settings: {{version: '1.0', builders: [{builders}]}}
        projects:
          - name: nova
            python: '{python}'
        """))
    return str(path)


def evil_script(tmp_path: Path, body: str = '') -> Path:
    """An executable that leaves a marker when it runs."""
    script = tmp_path / 'evil.sh'
    script.write_text(f'#!/bin/sh\ntouch {tmp_path}/ran\n{body}')
    script.chmod(0o755)
    return script


COMMANDS = [('validate', '-m'), ('build', '--dry-run', '-m')]


@pytest.mark.parametrize('command', COMMANDS)
def test_relative_path_is_not_run(cli, tmp_path, monkeypatch, command):
    evil_script(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = cli(*command, manifest(tmp_path, './evil.sh'))
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert "python './evil.sh' is not an absolute path" in result.stderr
    assert 'manifest.yml:4' in result.stderr
    assert not (tmp_path / 'ran').exists()


@needs_dpkg
@pytest.mark.parametrize('command', COMMANDS)
def test_unowned_program_is_not_run(cli, tmp_path, command):
    script = evil_script(tmp_path)
    result = cli(*command, manifest(tmp_path, str(script)))
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert 'no Python interpreter a system package owns' in result.stderr
    assert f'--interpreter {script}' in result.stderr
    assert 'manifest.yml:4' in result.stderr
    assert 'Traceback' not in result.stderr
    assert not (tmp_path / 'ran').exists()


@needs_dpkg
def test_link_to_unowned_program_is_not_run(cli, tmp_path):
    script = evil_script(tmp_path)
    (tmp_path / 'python3').symlink_to(script)
    result = cli('validate', '-m', manifest(tmp_path, str(tmp_path / 'python3')))
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert f'({script})' in result.stderr
    assert not (tmp_path / 'ran').exists()


@needs_dpkg
def test_owned_program_that_is_no_python_is_not_run(cli, tmp_path):
    result = cli('validate', '-m', manifest(tmp_path, '/bin/sh'))
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert 'no Python interpreter a system package owns' in result.stderr


@needs_dpkg
def test_link_to_owned_python_is_probed_at_its_real_path(cli, tmp_path):
    (tmp_path / 'python').symlink_to('/usr/bin/python3')
    result = cli('validate', '-m', manifest(tmp_path, str(tmp_path / 'python')))
    assert result.status == 0, result.stderr


def test_operator_trusts_an_interpreter(cli, tmp_path):
    script = evil_script(tmp_path, 'echo not json\n')
    path = manifest(tmp_path, str(script), builders='docker')
    result = cli('validate', '--interpreter', str(script), '-m', path)
    assert (tmp_path / 'ran').exists()  # the operator said so
    # a probe without JSON is a clear error naming the key's line
    assert result.status == errors.BuildError.exit_code, result.stderr
    assert "did not answer giftwrap's probe" in result.stderr
    assert 'manifest.yml:4' in result.stderr
    assert 'not json' in result.stderr
    assert 'list index' not in result.stderr and 'Traceback' not in result.stderr


def test_probe_printing_nothing(cli, tmp_path):
    script = evil_script(tmp_path)
    result = cli('validate', '--interpreter', str(script), '-m',
                 manifest(tmp_path, str(script), builders='docker'))
    assert result.status == errors.BuildError.exit_code, result.stderr
    assert "did not answer giftwrap's probe" in result.stderr


def test_probe_answer_with_a_newline_in_the_version(cli, tmp_path):
    script = evil_script(tmp_path, 'echo \'{"path": "/x", "version": '
                         '"3.11\\\\nDepends: evil", "implementation": "cpython"'
                         ', "soabi": "", "platform_machine": "x86_64"}\'\n')
    result = cli('validate', '--interpreter', str(script), '-m',
                 manifest(tmp_path, str(script), builders='docker'))
    assert result.status == errors.BuildError.exit_code, result.stderr
    assert "did not answer giftwrap's probe" in result.stderr


def test_missing_operator_interpreter(cli, tmp_path):
    result = cli('validate', '--interpreter', str(tmp_path / 'nope'), '-m',
                 manifest(tmp_path, '/usr/bin/python3'))
    assert result.status == errors.ManifestError.exit_code
    assert '--interpreter' in result.stderr and 'does not exist' in result.stderr


def test_private_python_for_docker_with_interpreter(cli, tmp_path):
    real = str(Path(sys.executable).resolve())
    owned = shutil.which('dpkg-query') and subprocess.run(
        ['dpkg-query', '-S', '--', real], capture_output=True).returncode == 0
    if owned:
        pytest.skip(f'{real} belongs to a system package here')
    path = manifest(tmp_path, real, builders='docker')
    refused = cli('validate', '-m', path)
    assert refused.status == errors.ManifestError.exit_code, refused.stderr
    assert f'--interpreter {real}' in refused.stderr
    assert cli('validate', '--interpreter', real, '-m', path).status == 0


def dpkg_query(answer: str, returncode: int = 0) -> testing.RecordingRunner:
    """A runner that answers dpkg-query with ``answer``."""

    def respond(call: testing.Call) -> Result:
        if call.argv[0] != 'dpkg-query':
            raise errors.MissingToolError(f'{call.argv[0]} is not installed')
        return Result(call.argv, returncode, answer)

    return testing.RecordingRunner(respond=respond)


def test_owner_query_ends_options_and_matches_the_exact_path():
    runner = dpkg_query('python3.11-minimal: /usr/bin/python3.11x\n')
    assert interpreter._owner(Path('/usr/bin/python3.11'), runner) is None
    assert runner.argvs()[0] == ('dpkg-query', '-S', '--',
                                 '/usr/bin/python3.11')
    runner = dpkg_query('libpython3.11:amd64, python3.11-minimal: /usr/bin/x\n')
    assert interpreter._owner(Path('/usr/bin/x'), runner) == 'libpython3.11'
    runner = dpkg_query('diversion by foo from: /usr/bin/x\n')
    assert interpreter._owner(Path('/usr/bin/x'), runner) is None


def test_the_owner_is_asked_once_per_runner():
    runner = dpkg_query('python3.11-minimal: /usr/bin/python3.11\n')
    for _ in range(3):
        assert interpreter._owner(Path('/usr/bin/python3.11'),
                                  runner) == 'python3.11-minimal'
    assert len(runner.argvs()) == 1
    other = dpkg_query('', returncode=1)  # another runner: another system
    assert interpreter._owner(Path('/usr/bin/python3.11'), other) is None


def test_pattern_characters_are_never_queried(tmp_path):
    odd = tmp_path / 'python3.1[1]'
    odd.write_text('')
    runner = dpkg_query('python3.11-minimal: /usr/bin/python3.11\n')
    with pytest.raises(errors.ManifestError):
        interpreter.trusted(str(odd), runner, where='m.yml:1')
    assert runner.calls == []

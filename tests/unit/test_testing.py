"""Unit tests of the driver authors' kit's recording runner (giftwrap.testing)."""

from __future__ import annotations

import pytest

from giftwrap import errors, testing
from giftwrap.api import Result


def test_a_response_may_set_the_exit_status():
    runner = testing.RecordingRunner(
        respond=lambda call: Result(call.argv, 3, 'no such package'))
    result = runner.run(['dpkg-query', '-W', 'x'], check=False)
    assert (result.returncode, result.output) == (3, 'no such package')
    with pytest.raises(errors.CommandError) as caught:
        runner.run(['dpkg-query', '-W', 'x'], what='dpkg-query')
    assert caught.value.what == 'dpkg-query failed'
    assert caught.value.output == 'no such package'
    assert caught.value.where == 'dpkg-query'
    assert len(runner.calls) == 2  # a failing command is recorded too


def test_a_zero_status_result_is_returned_as_it_is():
    answer = Result(('x',), 0, 'id-1\n')
    runner = testing.RecordingRunner(respond=lambda call: answer)
    assert runner.run(['buildah', 'from']) is answer


def test_a_call_is_recorded_before_its_response_raises():
    def interrupt(call):
        raise KeyboardInterrupt

    runner = testing.RecordingRunner(respond=interrupt)
    with pytest.raises(KeyboardInterrupt):
        runner.run(['podman', 'run'], env={'A': 'b'}, stdin=b'in')
    assert runner.calls == [testing.Call(('podman', 'run'), None, {'A': 'b'},
                                         None, b'in')]


def test_fail_wins_over_respond_and_matches_whole_arguments():
    played = []
    runner = testing.RecordingRunner(respond=played.append,
                                     fail={'push': 'connection refused'})
    assert runner.run(['podman', 'push'], check=False).output == \
        'connection refused'
    assert runner.run(['podman', 'pushed-name']).returncode == 0
    assert [c.argv[1] for c in played] == ['pushed-name']


def test_no_response_is_empty_output():
    runner = testing.RecordingRunner()
    result = runner.run(['true'], cwd='/tmp')
    assert (result.returncode, result.output) == (0, '')
    assert runner.calls[0].cwd.as_posix() == '/tmp'
    assert runner.argvs() == [('true',)]

"""An interrupt stops its own run's children, not every later run's."""

import sys
import threading
import time

import pytest

from giftwrap import errors
from giftwrap.process import Runner


def test_an_interrupt_stops_its_run_and_no_later_one():
    with Runner.scope():
        runner = Runner()
        started = threading.Event()
        failed = []

        def sleeper():
            started.set()
            try:
                runner.run([sys.executable, '-c', 'import time; time.sleep(60)'])
            except errors.CommandError as exc:
                failed.append(exc)

        thread = threading.Thread(target=sleeper)
        thread.start()
        started.wait(5)
        time.sleep(0.5)  # let the child start
        Runner.terminate_all()
        thread.join(20)
        assert not thread.is_alive() and failed  # terminated: non-zero exit
        with pytest.raises(errors.CommandError, match='interrupted before'):
            runner.run([sys.executable, '-c', 'pass'])
        # a runner made later in the interrupted run cannot start either
        with pytest.raises(errors.CommandError, match='interrupted before'):
            Runner().run([sys.executable, '-c', 'pass'])
    # the next run, and runners outside any run, start as before
    with Runner.scope():
        assert Runner().run([sys.executable, '-c', 'print(1)']).output == '1\n'
    assert Runner().run([sys.executable, '-c', 'print(2)']).output == '2\n'

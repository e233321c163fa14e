"""An interrupt stops its own run's children, not every later run's."""

import errno
import socket
import sys
import threading
import time

import pytest

from giftwrap import errors
from giftwrap.util.process import Runner, network_error


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


def test_a_thread_scope_is_stopped_alone():
    """Two jobs of a Dask worker: stopping one's scope leaves the other's
    children (and the process's own runs) alone."""
    scopes, results = {}, {}
    ready = threading.Barrier(3)

    def job(name):
        with Runner.thread_scope() as scope:
            scopes[name] = scope
            runner = Runner()
            ready.wait(5)
            try:
                results[name] = runner.run(
                    [sys.executable, '-c', 'import time; time.sleep(2)'])
            except errors.CommandError as exc:
                results[name] = exc

    threads = [threading.Thread(target=job, args=(n,)) for n in 'ab']
    for thread in threads:
        thread.start()
    ready.wait(5)
    time.sleep(0.5)  # let the children start
    scopes['a'].terminate()
    for thread in threads:
        thread.join(20)
    assert isinstance(results['a'], errors.CommandError)
    assert results['b'].returncode == 0
    assert Runner().run([sys.executable, '-c', 'print(3)']).output == '3\n'


@pytest.mark.parametrize('output', [
    "WARNING: Retrying (Retry(total=4)) after connection broken by "
    "'NewConnectionError(': Failed to establish a new connection: [Errno -3] "
    "Temporary failure in name resolution')'",
    'error: Failed to fetch: `https://pypi.org/simple/six/`\n  Caused by: '
    'error sending request for url\n  Caused by: dns error',
    "fatal: unable to access 'https://opendev.org/x/': Could not resolve host",
    'ERROR: Could not install packages due to an OSError: '
    "HTTPSConnectionPool: Read timed out.",
])
def test_network_failures_get_the_network_hint(output):
    from giftwrap.util.process import NETWORK_HINT, network_hint
    assert network_hint(output) == NETWORK_HINT
    assert 'not the pins' in NETWORK_HINT and '--offline' in NETWORK_HINT


@pytest.mark.parametrize('output', [
    "WARNING: Retrying (Retry(total=4)) after connection broken by "
    "'SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] "
    "certificate verify failed: self-signed certificate in certificate "
    "chain (_ssl.c:992)'))': /simple/pbr/",
    'error: Request failed after 3 retries\n  Caused by: invalid peer '
    'certificate: UnknownIssuer',
    "fatal: unable to access 'https://opendev.org/x/': server certificate "
    'verification failed. CAfile: none CRLfile: none',
])
def test_an_untrusted_certificate_gets_the_ca_bundle_hint(output):
    from giftwrap.util.process import TLS_HINT, network_hint
    assert network_hint(output) == TLS_HINT
    assert 'PIP_CERT' in TLS_HINT and 'container.rst' in TLS_HINT


def test_a_resolution_conflict_gets_no_network_hint():
    from giftwrap.util.process import network_hint
    assert network_hint('ERROR: Cannot install six==1.0 and six==2.0 because '
                        'these package versions have conflicting '
                        'dependencies.') is None
    assert network_hint('') is None and network_hint(None) is None


@pytest.mark.parametrize('exc, network', [
    (socket.gaierror(-3, 'Temporary failure in name resolution'), True),
    (ConnectionRefusedError(111, 'Connection refused'), True),
    (TimeoutError('timed out'), True),
    (OSError(errno.ENETUNREACH, 'Network is unreachable'), True),
    (OSError(errno.ENOSPC, 'No space left on device'), False),
    (ValueError('not a network error'), False)])
def test_network_error(exc, network):
    wrapped = RuntimeError('fetch failed')
    wrapped.__cause__ = exc
    assert network_error(wrapped) is network

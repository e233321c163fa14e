"""A real Dask cluster on 127.0.0.1 for tests: one ``dask scheduler`` and
``dask worker`` processes (``--no-nanny``, each its own cache directory,
or one for all with ``shared_cache``)::

    from tests import dask_cluster

    with dask_cluster.cluster(tmp_path, workers=2) as running:
        giftwrap('build', ..., '--executor', 'dask',
                 '--scheduler', running.address)

With ``tls=dask_cluster.certificates(tmp_path)`` every process speaks
``tls://`` with a CA, a certificate and a key made with openssl.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

DASK = str(Path(sys.executable).parent / 'dask')


@dataclasses.dataclass(frozen=True)
class Tls:
    """PEM files: a CA and one certificate (with its key) signed by it,
    used by the scheduler, the workers and the client alike."""

    ca: Path
    cert: Path
    key: Path

    def worker_args(self) -> list[str]:
        return ['--tls-ca-file', str(self.ca), '--tls-cert', str(self.cert),
                '--tls-key', str(self.key)]


@dataclasses.dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: dict[str, subprocess.Popen]  # worker address -> process
    caches: dict[str, Path]  # worker address -> its cache directory
    tls: Tls | None = None

    def client(self):
        import distributed
        security = None
        if self.tls:
            security = distributed.Security(
                tls_ca_file=str(self.tls.ca), tls_client_cert=str(self.tls.cert),
                tls_client_key=str(self.tls.key), require_encryption=True)
        return distributed.Client(self.address, security=security,
                                  set_as_default=False, timeout=30)


def certificates(directory: Path) -> Tls:
    """A self-signed CA and a certificate for 127.0.0.1 signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / 'ca.pem', directory / 'ca.key'
    cert, key = directory / 'cert.pem', directory / 'cert.key'
    csr, ext = directory / 'cert.csr', directory / 'ext.cnf'
    ext.write_text('subjectAltName=IP:127.0.0.1,DNS:localhost\n')
    for argv in (
            ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
             '-subj', '/CN=giftwrap-test-ca', '-keyout', ca_key, '-out', ca],
            ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1',
             '-keyout', key, '-out', csr],
            ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', ca_key,
             '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert]):
        subprocess.run(['openssl', *map(str, argv)], check=True,
                       capture_output=True)
    return Tls(ca, cert, key)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def cluster(tmp_path: Path, workers: int = 2, tls: Tls | None = None,
            nthreads: int = 2, build: int = 1,
            shared_cache: bool = False) -> Iterator[Cluster]:
    """Start the scheduler and ``workers`` workers; stop them afterwards.

    Each worker has ``nthreads`` threads and a ``build`` resource of
    ``build`` (so a thread stays free to serve the artifacts' chunks), and
    a cache directory of its own, or with ``shared_cache`` the same one as
    the others (workers of one machine may share it).
    """
    scheme = 'tls' if tls else 'tcp'
    address = f'{scheme}://127.0.0.1:{free_port()}'
    tls_args = tls.worker_args() if tls else []
    env = {**os.environ, 'DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES': '3'}
    logs = tmp_path / 'dask-logs'
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    try:
        procs.append(_start([DASK, 'scheduler', '--host', address,
                             '--no-dashboard', '--no-show', *tls_args],
                            logs / 'scheduler.log', env))
        caches = []
        for i in range(workers):
            cache = tmp_path / ('workers-cache' if shared_cache
                                else f'worker-{i}-cache')
            caches.append(cache)
            procs.append(_start(
                [DASK, 'worker', address, '--no-nanny', '--name', f'w{i}',
                 '--host', '127.0.0.1', '--nthreads', str(nthreads),
                 '--resources', f'build={build}', '--no-dashboard',
                 '--local-directory', str(tmp_path / f'worker-{i}-dask'),
                 *tls_args],
                logs / f'worker-{i}.log', {**env,
                                           'GIFTWRAP_CACHE_DIR': str(cache)}))
        running = Cluster(address, procs[0], {}, {}, tls)
        _wait_for(running, procs[1:], caches)
        yield running
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _start(argv, log: Path, env) -> subprocess.Popen:
    with open(log, 'ab') as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)


def _wait_for(running: Cluster, procs, caches, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = running.client()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        client.wait_for_workers(len(procs), timeout=timeout)
        info = client.scheduler_info(n_workers=-1)['workers']
        by_name = {w['name']: addr for addr, w in info.items()}
        for i, proc in enumerate(procs):
            running.workers[by_name[f'w{i}']] = proc
            running.caches[by_name[f'w{i}']] = caches[i]
    finally:
        client.close()

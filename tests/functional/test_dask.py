"""The dask executor against a real scheduler and two real workers on
127.0.0.1 (separate processes, ``--no-nanny``, each its own cache)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests import dask_cluster, httpserver, projectutil

NAMES = ('hello-app', 'hello-two', 'hello-three')


def three_projects(tmp_path: Path) -> Path:
    """Three tiny pure-Python projects pinned by a constraints file (whose
    pins have a fingerprint, so an unchanged project is reused before any
    checkout); the first one with a patch beside the manifest (shipped
    with its task)."""
    for name in NAMES:
        projectutil.sample_repo(tmp_path / name, name=name,
                                requirements=['six'])
    constraints = tmp_path / 'upper-constraints.txt'
    constraints.write_text('six===1.16.0\n')
    (tmp_path / 'patches').mkdir()
    (tmp_path / 'patches' / 'news.patch').write_text(
        '--- /dev/null\n+++ b/NEWS\n@@ -0,0 +1 @@\n+patched for giftwrap\n')
    projects = ''.join(f'  - name: {n}\n    giturl: {tmp_path / n}\n'
                       for n in NAMES)
    projects = projects.replace(
        f'giturl: {tmp_path / NAMES[0]}\n',
        f'giturl: {tmp_path / NAMES[0]}\n    patches: [patches/news.patch]\n')
    manifest = tmp_path / 'manifest.yml'
    manifest.write_text(
        "settings:\n  version: '1.0-1'\n  builders: [nfpm-deb]\n"
        "  resolver: upper-constraints\n  resolver_options:\n"
        f"    upper-constraints: {{url: {constraints}}}\n"
        f"projects:\n{projects}")
    return manifest


def giftwrap(*argv, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / 'giftwrap'), *map(str, argv)],
        capture_output=True, text=True, env={**os.environ, **(env or {})},
        **kwargs)


def build(manifest, out, cache, *extra, **kwargs):
    result = giftwrap('build', '-m', manifest, '-o', out, '--cache-dir',
                      cache, '-f', 'json', *extra, **kwargs)
    rows = json.loads(result.stdout) if result.stdout.startswith('[') else []
    return result, rows


def artifacts(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())
            if p.is_file() and not p.name.startswith('.')}


def relative(rows, out: Path):
    """The summary without the worker, artifacts relative to ``out``."""
    return [{**{k: v for k, v in r.items() if k != 'Worker'},
             'Artifact': str(Path(r['Artifact']).relative_to(out))}
            for r in rows]


def test_dask_build_matches_a_local_build(tmp_path):
    manifest = three_projects(tmp_path)
    local_out, dask_out = tmp_path / 'out-local', tmp_path / 'out-dask'
    local, local_rows = build(manifest, local_out, tmp_path / 'cache-local')
    assert local.returncode == 0, local.stderr
    with dask_cluster.cluster(tmp_path) as running:
        result, rows = build(manifest, dask_out, tmp_path / 'cache-client',
                             '--executor', 'dask', '--scheduler',
                             running.address)
        assert result.returncode == 0, result.stderr + result.stdout
        assert {r['Worker'] for r in rows} <= set(running.workers)
        assert artifacts(dask_out) == artifacts(local_out)
        assert (dask_out / 'giftwrap.lock').read_text() == \
            (local_out / 'giftwrap.lock').read_text()
        assert relative(rows, dask_out) == relative(local_rows, local_out)
        # nothing could be reused: the client updated no mirror of its own
        # (the workers computed the memos, which the client recorded)
        assert not list((tmp_path / 'cache-client').glob('git/*.git'))
        # nothing left on the workers but their caches
        for cache in running.caches.values():
            assert not list((cache / 'dask').glob('*/*'))

        # unchanged: reused on the client, nothing sent out
        again, rows = build(manifest, dask_out, tmp_path / 'cache-client',
                            '--executor', 'dask', '--scheduler',
                            running.address)
        assert again.returncode == 0, again.stderr
        assert {r['Status'] for r in rows} == {'reused'}
        assert 'sent to the Dask cluster' not in again.stderr


def test_workers_of_one_machine_may_share_a_cache(tmp_path):
    """Two worker processes with one cache directory (git mirrors, uv's
    cache, byte-code: file locks and atomic writes) build what a local
    build does, byte for byte."""
    manifest = three_projects(tmp_path)
    local_out, dask_out = tmp_path / 'out-local', tmp_path / 'out-dask'
    local, _ = build(manifest, local_out, tmp_path / 'cache-local')
    assert local.returncode == 0, local.stderr
    with dask_cluster.cluster(tmp_path, shared_cache=True) as running:
        assert len(set(running.caches.values())) == 1
        result, rows = build(manifest, dask_out, tmp_path / 'cache-client',
                             '--executor', 'dask', '--scheduler',
                             running.address)
        assert result.returncode == 0, result.stderr + result.stdout
        assert artifacts(dask_out) == artifacts(local_out)
        cache = next(iter(running.caches.values()))
        assert not list((cache / 'dask').glob('*/*'))
        # the projects share what one compiled (their closure overlaps)
        logs = ''.join(p.read_text() for p in cache.glob('logs/*/*.log'))
        assert re.search(r' [1-9][0-9]* from the cache', logs)


def test_a_worker_killed_mid_job_is_replaced(tmp_path):
    """SIGKILL the worker running a job: the scheduler runs it again on the
    other worker, and the build completes with every artifact."""
    manifest = three_projects(tmp_path)
    out = tmp_path / 'out'
    with dask_cluster.cluster(tmp_path) as running:
        build_proc = subprocess.Popen(
            [str(Path(sys.executable).parent / 'giftwrap'), 'build', '-m',
             str(manifest), '-o', str(out), '--cache-dir',
             str(tmp_path / 'cache-client'), '-f', 'json', '--executor',
             'dask', '--scheduler', running.address],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        victim = wait_for_a_running_job(running)
        running.workers[victim].send_signal(signal.SIGKILL)
        stdout, stderr = build_proc.communicate(timeout=600)
        assert build_proc.returncode == 0, stderr + stdout
        rows = json.loads(stdout)
        assert {r['Status'] for r in rows} == {'built'}
        assert victim not in {r['Worker'] for r in rows}
        assert sorted(artifacts(out)) == sorted(
            [f'openstack-{n}_1.0-1_all.deb{s}' for n in NAMES
             for s in ('', '.cdx.json')] + ['giftwrap.lock'])
        assert not [p for p in out.iterdir() if 'giftwrap-tmp' in p.name]


def wait_for_a_running_job(running, timeout: float = 300) -> str:
    """The address of a worker processing a giftwrap job that has started
    (its directory is in the worker's cache)."""
    client = running.client()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for worker, keys in client.processing().items():
                started = list((running.caches[worker] / 'dask').glob('*/*'))
                if started and any('giftwrap-' in str(k) for k in keys):
                    return worker
            time.sleep(0.2)
        raise AssertionError('no job started')
    finally:
        client.close()


def test_tls_cluster(tmp_path):
    """Scheduler, workers and client speak tls:// with certificates made
    here; a client without them is refused before any work.  The artifact
    comes home through an artifact store (a file:// URL), emptied after."""
    tls = dask_cluster.certificates(tmp_path / 'tls')
    manifest = three_projects(tmp_path)
    out = tmp_path / 'out'
    with dask_cluster.cluster(tmp_path, workers=1, tls=tls) as running:
        assert running.address.startswith('tls://')
        result, rows = build(manifest, out, tmp_path / 'cache-client',
                             '-p', 'hello-two', '--executor', 'dask',
                             '--scheduler', running.address,
                             '--tls-ca-file', tls.ca, '--tls-cert', tls.cert,
                             '--tls-key', tls.key, '--artifact-store',
                             f'file://{tmp_path / "store"}')
        assert result.returncode == 0, result.stderr + result.stdout
        assert [r['Status'] for r in rows] == ['built']
        assert sorted(artifacts(out)) == [
            'giftwrap.lock', 'openstack-hello-two_1.0-1_all.deb',
            'openstack-hello-two_1.0-1_all.deb.cdx.json']
        assert not [p for p in (tmp_path / 'store').rglob('*') if p.is_file()]

        plain, _ = build(manifest, tmp_path / 'out2', tmp_path / 'cache-2',
                         '-p', 'hello-two', '--executor', 'dask',
                         '--scheduler', running.address.replace('tls', 'tcp'),
                         timeout=120)
        assert plain.returncode == 7, plain.stderr
        assert 'cannot use the Dask cluster' in plain.stderr
        assert not (tmp_path / 'out2').exists()


def test_ctrl_c_stops_the_running_jobs_on_the_workers(tmp_path):
    """Dask cannot cancel a running task: the job sees the run's stop event
    and terminates its processes (pip, hung on a download here)."""
    projectutil.pinned_repo(tmp_path / 'hello-app')
    with httpserver.LoopbackServer(hang_limit=60) as server:
        url = server.hang('/hang/slow-1.0.tar.gz')
        manifest = tmp_path / 'manifest.yml'
        manifest.write_text(
            "settings:\n  version: '1.0-1'\n  builders: [nfpm-deb]\n"
            "  resolver: requirements-file\nprojects:\n  - name: hello-app\n"
            f"    giturl: {tmp_path / 'hello-app'}\n"
            f"    pip_dependencies: ['slow @ {url}']\n")
        out = tmp_path / 'out'
        with dask_cluster.cluster(tmp_path, workers=1) as running:
            proc = subprocess.Popen(
                [str(Path(sys.executable).parent / 'giftwrap'), 'build', '-m',
                 str(manifest), '-o', str(out), '--cache-dir',
                 str(tmp_path / 'cache-client'), '--executor', 'dask',
                 '--scheduler', running.address],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 300
            while not server.hits('/hang/slow-1.0.tar.gz'):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, 'pip never asked'
                time.sleep(0.2)
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
            elapsed = time.monotonic() - started
            assert proc.returncode == 130, stderr
            assert elapsed < 30
            assert 'Traceback' not in stderr
            worker_cache = next(iter(running.caches.values()))
            deadline = time.monotonic() + 30
            while list((worker_cache / 'dask').glob('*/*')):
                assert time.monotonic() < deadline, 'the job went on'
                time.sleep(0.5)
            leftovers = subprocess.run(
                ['pgrep', '-f', str(worker_cache / 'dask')],
                capture_output=True, text=True).stdout
            assert leftovers == ''
            assert all(p.poll() is None for p in running.workers.values())
    assert not out.exists() or not any(out.iterdir())

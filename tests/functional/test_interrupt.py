"""Ctrl-C and SIGTERM stop a build promptly and leave nothing behind."""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time

import pytest

from tests import httpserver, projectutil


@pytest.mark.parametrize('signum,status', [(signal.SIGTERM, 143),
                                           (signal.SIGINT, 130)])
def test_interrupted_build_cleans_up(tmp_path, signum, status):
    repo = tmp_path / 'hello-app'
    projectutil.pinned_repo(repo)
    with httpserver.LoopbackServer(hang_limit=60) as server:
        url = server.hang('/hang/slow-1.0.tar.gz')
        manifest = tmp_path / 'manifest.yml'
        manifest.write_text(textwrap.dedent(f"""
            settings:
              version: '1.0-1'
              builders: [nfpm-deb]
              resolver: requirements-file
            projects:
              - name: hello-app
                giturl: {repo}
                pip_dependencies: ['slow @ {url}']
            """))
        work, out = tmp_path / 'work', tmp_path / 'out'
        proc = subprocess.Popen(
            ['giftwrap', 'build', '-m', str(manifest), '-o', str(out),
             '--work-dir', str(work), '--cache-dir', str(tmp_path / 'cache')],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not server.hits('/hang/slow-1.0.tar.gz'):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, 'pip never asked for the file'
            time.sleep(0.2)
        started = time.monotonic()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
        elapsed = time.monotonic() - started
    assert proc.returncode == status, stderr
    assert elapsed < 15
    assert 'Traceback' not in stderr
    assert not work.exists()
    assert not out.exists() or not any(out.iterdir())
    leftovers = subprocess.run(['pgrep', '-f', str(work)], capture_output=True,
                               text=True).stdout
    assert leftovers == ''

"""A file pip downloaded is kept from pip's HTTP cache, not downloaded again.

A real pip (the one virtualenv seeds, as in a build) downloads a wheel from
a server on 127.0.0.1 that allows caching; the server then stops, and
:func:`giftwrap.venv.wheelhouse.keep` finds the file's bytes in pip's cache by
its URL alone.  (pip caches plain-HTTP answers of trusted hosts only.)
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile

from giftwrap.venv import wheelhouse
from tests.httpserver import LoopbackServer

NAME = 'demo-1.0-py3-none-any.whl'


def _wheel() -> bytes:
    files = {'demo.py': 'X = 1\n',
             'demo-1.0.dist-info/METADATA':
                 'Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n',
             'demo-1.0.dist-info/WHEEL':
                 'Wheel-Version: 1.0\nGenerator: test\n'
                 'Root-Is-Purelib: true\nTag: py3-none-any\n'}
    files['demo-1.0.dist-info/RECORD'] = ''.join(
        f'{n},,\n' for n in [*files, 'demo-1.0.dist-info/RECORD'])
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w') as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def test_keep_takes_the_body_from_pips_http_cache(tmp_path):
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'virtualenv', '--no-download',
                    '--no-periodic-update', '--app-data',
                    str(tmp_path / 'app-data'), str(venv)], check=True,
                   capture_output=True)
    body = _wheel()
    cache = tmp_path / 'cache'
    with LoopbackServer() as server:
        url = server.add(f'/files/{NAME}', body, headers={
            'Cache-Control': 'public, max-age=86400',
            'Content-Type': 'application/octet-stream'})
        subprocess.run([str(venv / 'bin' / 'python'), '-m', 'pip', 'download',
                        '--no-deps', '--trusted-host', '127.0.0.1',
                        '--cache-dir', str(cache / 'pip'), '-d',
                        str(tmp_path / 'downloaded'), url], check=True,
                       capture_output=True, env={'PIP_CONFIG_FILE': '/dev/null',
                                                 'PATH': '/usr/bin:/bin'})
    report = tmp_path / 'report.json'
    report.write_text(json.dumps({'install': [{
        'metadata': {'name': 'demo', 'version': '1.0'},
        'download_info': {'url': url, 'archive_info': {'hashes': {
            'sha256': hashlib.sha256(body).hexdigest()}}}}]}))
    assert wheelhouse.keep([report], cache, cache / 'pip') == []
    assert (cache / 'wheelhouse' / NAME).read_bytes() == body

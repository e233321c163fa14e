"""A build that cannot reach the package index says so (not "conflict").

The build runs with no network at all: a network namespace of its own
with only ``lo`` (``unshare -n``, as root), and an empty cache, so pip
must ask the index for six and cannot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests import projectutil

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which('unshare') is None,
    reason='needs root and unshare (util-linux) for a network namespace')


def test_no_network_is_reported_as_the_network(tmp_path):
    manifest = projectutil.pinned_manifest(tmp_path)
    result = subprocess.run(
        ['unshare', '-n', '--', shutil.which('giftwrap'), 'build', '-m',
         str(manifest), '-o', str(tmp_path / 'out'), '--cache-dir',
         str(tmp_path / 'cache'), '-f', 'json'],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 7, result.stderr + result.stdout
    (row,) = json.loads(result.stdout)
    assert row['Status'] == 'failed'
    hint = row['Hint']
    assert 'the network failed, not the pins' in hint
    assert '--offline' in hint
    assert 'conflict' not in hint  # pip's own output may say it
    assert '\n' not in row['Message']  # the output is in the details
    assert 'Traceback' not in result.stderr

"""Whatever a manifest or lock file holds, the commands that read them end
with exit 0 or a giftwrap error: never a traceback, never "internal error".

``giftwrap validate`` on random manifests; the lock loader, ``giftwrap
build --lock --dry-run`` and ``giftwrap diff`` on random lock files.  The
commands run in this process (cliff's app, as the console script runs it).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from giftwrap import errors
from giftwrap.cli import app as shell
from giftwrap.trust import lockfile
from tests.strategies import MANIFESTS

HEX = st.text('0123456789abcdef', min_size=0, max_size=64)
TEXT = st.text(max_size=30) | st.sampled_from([
    'master', '-r /etc/passwd', 'six\n--extra-index-url http://x', '0' * 40,
    '1.0', '--pre', '../../etc', 'file:///etc/hostname', ''])
ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | TEXT, lambda children: st.lists(children, max_size=3)
    | st.dictionaries(TEXT, children, max_size=3), max_leaves=8)
PIN = st.fixed_dictionaries(
    {'name': TEXT, 'version': TEXT}, optional={'sha256': HEX | ANY}) | ANY
ENTRY = st.fixed_dictionaries({
    'giturl': TEXT, 'gitref': TEXT, 'commit': HEX | TEXT,
    'resolver': TEXT | st.just('requirements-file'),
    'provenance': st.dictionaries(TEXT, TEXT, max_size=2) | ANY,
    'pins': st.dictionaries(TEXT, PIN, max_size=3) | ANY,
    'interpreter': st.fixed_dictionaries({'path': TEXT, 'version': TEXT})
    | ANY,
}, optional={'overrides': ANY, 'build_tools': ANY,
             'build_tool_hashes': ANY, 'unpinned': ANY,
             'patches': ANY, 'system_python_packages': ANY, 'bogus': ANY})
LOCKS = st.fixed_dictionaries({
    'format': st.sampled_from([lockfile.FORMAT, 1, 2, 'x', None]),
    'projects': st.dictionaries(st.sampled_from(['nova', 'hello']) | TEXT,
                                ENTRY | ANY, max_size=2) | ANY,
}) | ANY

MANIFEST = """\
settings:
  version: '1.0-1'
  builders: [nfpm-deb]
  resolver: requirements-file
projects:
  - name: nova
    giturl: repo
"""


def run(*argv: str) -> int:
    """``giftwrap ARGV`` in this process: its exit status; fails on a
    traceback or an internal error."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = shell.main(list(argv))
    text = err.getvalue()
    assert 'Traceback' not in text, text
    assert 'internal error' not in text, text
    assert status in range(8), (status, text)  # doc/source/cli.rst's exit statuses
    return status


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(MANIFESTS)
def test_validate_random_manifests(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'manifest.yml'
        path.write_text(yaml.safe_dump(data))
        run('validate', '-m', str(path))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(LOCKS)
def test_random_lock_files_load_or_fail_cleanly(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'giftwrap.lock'
        path.write_text(json.dumps(data))
        try:
            for entry in lockfile.read(path).values():
                entry.to_pins(path)
        except errors.GiftwrapError as exc:
            assert str(exc)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(LOCKS)
def test_build_lock_dry_run_on_random_locks(data):
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        (top / 'manifest.yml').write_text(MANIFEST)
        (top / 'giftwrap.lock').write_text(json.dumps(data))
        run('build', '-m', str(top / 'manifest.yml'), '--lock',
            str(top / 'giftwrap.lock'), '--dry-run', '-o', str(top / 'out'))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(LOCKS, LOCKS)
def test_diff_of_random_locks(old, new):
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, data in (('old.lock', old), ('new.lock', new)):
            paths.append(Path(tmp) / name)
            paths[-1].write_text(json.dumps(data))
        run('diff', *map(str, paths))

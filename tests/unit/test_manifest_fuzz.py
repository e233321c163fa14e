"""Whatever the manifest holds, the loader raises only giftwrap's errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from giftwrap import errors
from giftwrap.manifest import loader as manifest
from tests.strategies import MANIFESTS


def load(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'manifest.yml'
        path.write_text(text)
        try:
            loaded = manifest.load(path)
            for name in loaded.names:
                loaded.render(name, display=True)
        except errors.GiftwrapError as exc:
            assert str(exc)  # every error says something


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(MANIFESTS)
def test_structures(data):
    load(yaml.safe_dump(data))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_text(text):
    load(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100))
def test_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'manifest.yml'
        path.write_bytes(data)
        try:
            manifest.load(path)
        except errors.GiftwrapError:
            pass


# Values that reach pip, git or a package: whatever the text, either a
# ManifestError or a value that cannot be an option or a second line.
VALUE_KEYS = st.sampled_from(['pip_overrides', 'pip_exclude', 'extras',
                              'user', 'directories', 'install_path',
                              'systemd_units', 'sudoers'])
HOSTILE = st.text(max_size=12) | st.sampled_from(
    ['-r x', 'a\n--extra-index-url x', 'a]', '/etc', '/var/lib', '/',
     '$(id)', '../x', 'root;id', 'a b', 'x.service', '..'])


def _value(key, text):
    if key == 'pip_overrides':
        return {text: text}
    if key in ('systemd_units', 'sudoers'):
        return {text: 'x\n'}
    if key in ('pip_exclude', 'extras', 'directories'):
        return [text]
    if key == 'install_path':
        return '/opt/' + text
    return text


@settings(max_examples=300, deadline=None)
@given(VALUE_KEYS, HOSTILE)
def test_checked_values(key, text):
    from giftwrap.plan import planner as plan
    extra = {'user': 'nova'} if key == 'directories' else {}
    data = {'settings': {'version': '1.0'},
            'projects': [{'name': 'nova', key: _value(key, text), **extra}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'manifest.yml'
        path.write_text(yaml.safe_dump(data))
        try:
            project = manifest.load(path).render('nova')
            plan.check_values(project)
        except errors.ManifestError as exc:
            assert exc.where and str(exc)
            return
    # accepted: no option, no second line, no shell or path trick
    assert '\n' not in text and '\r' not in text
    assert key == 'install_path' or not text.startswith('-')
    assert ' ' not in text and '$' not in text and ';' not in text and ']' not in text
    if key == 'directories':
        assert text not in ('/', '/etc', '/var/lib')

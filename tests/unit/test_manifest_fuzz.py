"""Whatever the manifest holds, the loader raises only giftwrap's errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from giftwrap import errors, manifest
from giftwrap.schema import FIELDS

KEYS = st.sampled_from(sorted(FIELDS) + ['settings', 'projects', 'bogus'])
SCALARS = (st.none() | st.booleans() | st.integers() |
           st.floats(allow_nan=False) | st.text(max_size=20) |
           st.sampled_from(['{{ version }}', '{{ project.name }}', '{{',
                            '{% for %}', '/opt/x', '../x', 'nova', '1.0-1',
                            "{{ ''.__class__ }}", '{{ project.commit }}']))
VALUES = st.recursive(
    SCALARS, lambda children: st.lists(children, max_size=3) |
    st.dictionaries(KEYS, children, max_size=4), max_leaves=12)
PROJECT = st.dictionaries(KEYS, VALUES, max_size=6).map(
    lambda d: {'name': 'nova', **d})
MANIFESTS = st.fixed_dictionaries({
    'settings': st.dictionaries(KEYS, VALUES, max_size=6),
    'projects': st.lists(PROJECT | VALUES, max_size=3)}) | VALUES


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

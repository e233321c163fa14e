"""hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st
from giftwrap.manifest.schema import FIELDS


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

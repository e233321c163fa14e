"""OpenStack series phases, and the warning about unsupported ones."""

from __future__ import annotations

import datetime
import logging
import textwrap
from pathlib import Path

import pytest

from giftwrap.manifest import loader as manifest, series

EXAMPLES = Path(__file__).parents[2] / 'examples'
DAY = datetime.date(2026, 12, 1)


@pytest.mark.parametrize('name, status', [
    ('icehouse', 'end of life'), ('juno', 'end of life'),
    ('mitaka', 'end of life'), ('yoga', 'unmaintained'),
    ('zed', 'unmaintained'), ('2023.1', 'unmaintained'),
    ('antelope', 'unmaintained'), ('2024.2', 'end of life'),
    ('2025.1', 'unmaintained'),  # its scheduled move, 2026-10-02
    ('2025.2', 'maintained'), ('Flamingo', 'maintained'),
    ('2026.1', 'maintained'),
])
def test_phase_on_a_day(name, status):
    assert series.find(name).phase(DAY)[0] == status


def test_scheduled_transitions_apply_on_their_date():
    flamingo = series.find('2025.2')
    assert flamingo.phase(datetime.date(2027, 4, 27)) == (
        'maintained', datetime.date(2025, 10, 1))
    assert flamingo.phase(datetime.date(2027, 4, 28)) == (
        'end of life', datetime.date(2027, 4, 28))


@pytest.mark.parametrize('ref, name', [
    ('stable/juno', 'juno'), ('unmaintained/yoga', 'yoga'),
    ('refs/heads/stable/2025.2', 'flamingo'), ('origin/stable/kilo', 'kilo'),
    ('juno-eol', 'juno'), ('2023.1-eom', 'antelope'), ('yoga-eom', 'yoga'),
])
def test_series_of_refs(ref, name):
    assert series.of_ref(ref).name == name


@pytest.mark.parametrize('ref', ['master', 'HEAD', 'stable/2.0', '27.0.0',
                                 'feature/juno', 'stable/nosuch', ''])
def test_refs_naming_no_known_series(ref):
    assert series.of_ref(ref) is None


@pytest.mark.parametrize('url, name', [
    ('https://raw.githubusercontent.com/openstack/requirements/stable/mitaka/'
     'upper-constraints.txt', 'mitaka'),
    ('https://opendev.org/openstack/requirements/raw/branch/stable/2025.2/'
     'upper-constraints.txt', 'flamingo'),
    ('https://releases.openstack.org/constraints/upper/yoga', 'yoga'),
    ('http://git.openstack.org/cgit/openstack/requirements/plain/'
     'upper-constraints.txt?h=stable/juno', 'juno'),
])
def test_series_of_constraints_urls(url, name):
    assert series.of_url(url).name == name


def write(tmp_path, text):
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(text))
    return manifest.load(path)


def projects(loaded):
    return [loaded.render(name) for name in loaded.names]


@pytest.mark.parametrize('name, label', [
    ('2014-06-sample.yml', 'icehouse'), ('2014-12-manifest.yml', 'juno'),
    ('2015-09-manifest.yml', 'juno'), ('2015-09-docker-manifest.yml', 'kilo'),
    ('2016-manifest-constraints.yml', 'mitaka'),
])
def test_2014_examples_build_end_of_life_series(name, label):
    loaded = manifest.load(EXAMPLES / 'giftwrap-2014' / name)
    message, = series.unsupported(projects(loaded), DAY)
    assert message.startswith(f'OpenStack {label} is end of life since ')
    assert 'not even security fixes' in message
    assert f'{name}:' in message  # where the manifest names it
    assert '2025.2' in message  # what to move to


def test_2025_2_example_is_maintained():
    loaded = manifest.load(EXAMPLES / 'openstack-2025.2' / 'manifest.yml')
    assert series.unsupported(projects(loaded), DAY) == []


def test_one_message_per_series_naming_every_project_and_place(tmp_path):
    loaded = write(tmp_path, """
        settings:
          version: '1.0'
          resolver_options:
            upper-constraints: {release: yoga}
        projects:
          - {name: nova, gitref: unmaintained/yoga}
          - {name: glance, gitref: stable/2025.2}
          - {name: ironic, gitref: master}
        """)
    message, = series.unsupported(projects(loaded), DAY)
    assert 'OpenStack yoga is unmaintained (' in message
    assert 'only community fixes' in message
    where = tmp_path / 'manifest.yml'
    assert (f'nova (gitref unmaintained/yoga at {where}:7; release yoga at '
            f'{where}:4)') in message
    assert 'glance (release yoga' in message
    assert 'ironic (release yoga' in message


def test_the_resolver_in_use_counts_not_other_options(tmp_path):
    loaded = write(tmp_path, """
        settings: {version: '1.0', resolver: requirements-file}
        projects:
          - name: nova
            resolver_options: {upper-constraints: {release: juno}}
        """)
    assert series.unsupported(projects(loaded), DAY) == []


def test_warnings_are_logged(tmp_path, caplog):
    loaded = write(tmp_path, """
        projects: [{name: nova, version: '1.0', gitref: stable/juno}]
        """)
    with caplog.at_level(logging.WARNING, logger='giftwrap.manifest.series'):
        series.warn_unsupported(projects(loaded), DAY)
    assert 'OpenStack juno is end of life since 2015-12-07' in caplog.text


def test_a_transition_after_the_table_says_it_was_scheduled(tmp_path):
    loaded = write(tmp_path, """
        projects: [{name: nova, version: '1.0', gitref: stable/2025.1}]
        """)
    message, = series.unsupported(projects(loaded), DAY)
    assert message.startswith(
        'OpenStack 2025.1 (epoxy) is unmaintained since 2026-10-02 (as '
        'scheduled by https://releases.openstack.org on 2026-08-21): ')

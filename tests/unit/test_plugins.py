"""Loading, listing and checking drivers (giftwrap.plugins): the built-in
ones through their entry points, third-party ones through a distribution
installed on sys.path in the test."""

from __future__ import annotations

import importlib
import logging
import textwrap

import pytest
from stevedore import _cache, extension

from giftwrap import errors, testing
from giftwrap import plugins as drivers
from giftwrap.builders import nfpm
from giftwrap.plugins import Option


@pytest.fixture
def acme(tmp_path, monkeypatch):
    """A third-party package registering three builders, installed on
    sys.path as pip would: one good, one written for a later driver API,
    one whose module is missing."""
    (tmp_path / 'acme_drivers.py').write_text(textwrap.dedent('''\
        from giftwrap.plugins import Option

        class Good:
            """Builds ACME packages.

            For the ACME farm.
            """

            options = {'zeta': Option(str, 'z'), 'alpha': Option(int, 1)}

        class Future(Good):
            """Needs a driver API this giftwrap lacks."""

            api_version = (1, 99)
        '''))
    dist = tmp_path / 'acme_drivers-1.0.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: acme-drivers\nVersion: 1.0\n')
    (dist / 'entry_points.txt').write_text(
        '[giftwrap.builders]\nacme-good = acme_drivers:Good\n'
        'acme-future = acme_drivers:Future\n'
        'acme-broken = acme_missing:Broken\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    # stevedore keeps entry points per process and in a file of the
    # user's cache: neither may hide (or keep) this package's
    monkeypatch.setattr(extension.ExtensionManager, 'ENTRY_POINT_CACHE', {})
    monkeypatch.setattr(_cache._c, '_disable_caching', True)


# -- names and loading --------------------------------------------------------

def test_kind_names_one_driver_of_a_namespace():
    assert drivers.kind(drivers.BUILDERS) == 'builder'
    assert drivers.kind(drivers.EXECUTORS) == 'executor'
    assert drivers.kind('acme.widgets') == 'widget'


def test_available_lists_the_builtins_sorted():
    names = drivers.available(drivers.BUILDERS)
    assert {'nfpm-deb', 'nfpm-rpm', 'fpm-deb', 'docker'} <= set(names)
    assert names == sorted(names)
    assert drivers.available('acme.nothing') == []


def test_load_returns_the_class():
    assert drivers.load(drivers.BUILDERS, 'nfpm-deb') is nfpm.NfpmDeb


def test_an_unknown_driver_names_the_close_one_and_where():
    with pytest.raises(errors.DriverError) as caught:
        drivers.load(drivers.BUILDERS, 'nfpm-dbe', where='m.yml:4')
    error = caught.value
    assert error.what == "unknown builder 'nfpm-dbe'"
    assert error.where == 'm.yml:4'
    assert error.hint.startswith("did you mean 'nfpm-deb'? available: ")
    assert 'nfpm-rpm' in error.hint


def test_an_unknown_namespace_has_nothing_installed():
    with pytest.raises(errors.DriverError) as caught:
        drivers.load('acme.widgets', 'x')
    assert caught.value.what == "unknown widget 'x'"
    assert caught.value.hint == 'available: none installed'


def test_a_third_party_driver_loads(acme):
    loaded = drivers.load(drivers.BUILDERS, 'acme-good')
    assert loaded.__module__ == 'acme_drivers' and loaded.__name__ == 'Good'


def test_a_driver_that_cannot_be_imported_is_a_driver_error(acme):
    with pytest.raises(errors.DriverError) as caught:
        drivers.load(drivers.BUILDERS, 'acme-broken')
    assert "the builder 'acme-broken' could not be loaded" in caught.value.what
    assert caught.value.hint == 'reinstall the package that provides it'


def test_a_driver_that_cannot_be_imported_names_the_missing_module(acme):
    with pytest.raises(errors.DriverError) as caught:
        drivers.load(drivers.BUILDERS, 'acme-broken')
    assert "No module named 'acme_missing'" in caught.value.what


def test_load_refuses_a_driver_for_a_later_api(acme):
    with pytest.raises(errors.DriverError) as caught:
        drivers.load(drivers.BUILDERS, 'acme-future')
    assert "the builder 'acme-future' is written for giftwrap's driver " \
        'API 1.99' in caught.value.what
    assert caught.value.hint == 'upgrade giftwrap'


def test_a_driver_without_api_version_is_taken_as_this_one():
    drivers.check_api(drivers.BUILDERS, 'plain', type('Plain', (), {}))
    later_minor = (drivers.API_VERSION[0], drivers.API_VERSION[1])
    drivers.check_api(drivers.RESOLVERS, 'same',
                      type('Same', (), {'api_version': later_minor}))


# -- listing and showing ------------------------------------------------------

def test_describe_lists_first_doc_lines_and_distributions(acme, caplog):
    with caplog.at_level(logging.WARNING, logger='giftwrap.plugins'):
        infos = {i.name: i for i in drivers.describe(drivers.BUILDERS)}
    assert infos['acme-good'] == drivers.DriverInfo(
        'acme-good', 'Builds ACME packages.', 'acme-drivers 1.0')
    assert infos['nfpm-deb'].distribution.startswith('giftwrap ')
    assert infos['nfpm-deb'].summary
    # a broken driver does not stop the list: it is left out, with a warning
    assert 'acme-broken' not in infos
    assert "cannot load builder 'acme-broken'" in caplog.text
    assert list(infos) == sorted(infos)


def test_show_gives_the_documentation_and_sorted_options(acme):
    shown = drivers.show(drivers.BUILDERS, 'acme-good')
    assert shown == drivers.DriverDetails(
        'acme-good', 'Builds ACME packages.', 'For the ACME farm.',
        'acme-drivers 1.0', 'acme_drivers:Good',
        (('alpha', Option(int, 1)), ('zeta', Option(str, 'z'))))


def test_show_of_a_builtin_names_its_entry_point():
    shown = drivers.show(drivers.BUILDERS, 'nfpm-deb')
    assert shown.entry_point == 'giftwrap.builders.nfpm:NfpmDeb'
    assert [name for name, _ in shown.options] == sorted(nfpm.NfpmDeb.options)


def test_show_of_an_unknown_driver_fails_as_load_does():
    with pytest.raises(errors.DriverError, match="unknown resolver 'pip'"):
        drivers.show(drivers.RESOLVERS, 'pip')


# -- options ------------------------------------------------------------------

SCHEMA = {
    'level': Option(int, 3, help='a whole number from 0 to 9'),
    'ratio': Option(float, 0.5),
    'mode': Option(str, 'fast', choices=('fast', 'small')),
    'tags': Option(list, None),
}


def test_validate_fills_in_defaults_and_keeps_values():
    assert drivers.validate_options(SCHEMA, {'level': 7}, driver_name='x') == {
        'level': 7, 'ratio': 0.5, 'mode': 'fast', 'tags': None}


def test_a_whole_number_is_a_float_but_true_is_no_int():
    assert drivers.validate_options(SCHEMA, {'ratio': 1},
                                    driver_name='x')['ratio'] == 1
    with pytest.raises(errors.DriverError) as caught:
        drivers.validate_options(SCHEMA, {'level': True}, driver_name='acme',
                                 where='m.yml:9')
    assert caught.value.what == "option 'level' of acme must be a int, not bool"
    assert caught.value.where == 'm.yml:9'
    assert caught.value.hint == 'a whole number from 0 to 9'


@pytest.mark.parametrize('given, what, hint', [
    ({'levle': 1}, "unknown option 'levle' for acme", "did you mean 'level'?"),
    ({'colour': 1}, "unknown option 'colour' for acme",
     'acme accepts: level, mode, ratio, tags'),
    ({'mode': 'slow'}, "option 'mode' of acme must be one of fast, small, "
     "not 'slow'", None),
    ({'tags': 'a,b'}, "option 'tags' of acme must be a list, not str", None),
])
def test_option_errors_say_what_and_where(given, what, hint):
    with pytest.raises(errors.DriverError) as caught:
        drivers.validate_options(SCHEMA, given, driver_name='acme',
                                 where='m.yml:9')
    assert caught.value.what == what
    assert caught.value.where == 'm.yml:9'
    assert caught.value.hint == hint


def test_a_driver_without_options_says_so():
    with pytest.raises(errors.DriverError) as caught:
        drivers.validate_options({}, {'x': 1}, driver_name='plain')
    assert caught.value.hint == 'plain accepts: no options'


def test_fill_defaults_adds_only_what_is_missing(tmp_path):
    context = testing.build_context(tmp_path)  # no builder: no options
    assert context.options == {}
    filled = drivers.fill_defaults(context, SCHEMA)
    assert filled.options == {'level': 3, 'ratio': 0.5, 'mode': 'fast',
                              'tags': None}
    again = drivers.fill_defaults(filled, SCHEMA)
    assert again is filled  # nothing to add: the same context
    given = drivers.fill_defaults(
        testing.build_context(tmp_path, options={'level': 9}), SCHEMA)
    assert given.options['level'] == 9

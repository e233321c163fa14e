"""Every kind of manifest key (giftwrap.manifest.schema): its checks, their
messages (what, where, hint) and the merging of settings and projects."""

from __future__ import annotations

import pytest

from giftwrap import errors
from giftwrap.manifest import loader as manifest, schema
from giftwrap.manifest.schema import FIELDS

WHERE = 'manifest.yml:7'


def refused(key: str, value) -> errors.ManifestError:
    with pytest.raises(errors.ManifestError) as caught:
        FIELDS[key].check(key, value, WHERE)
    assert caught.value.where == WHERE
    assert caught.value.exit_code == 2
    return caught.value


@pytest.mark.parametrize('key, value, what, hint', [
    ('gitdepth', '1', "'gitdepth' must be a whole number, not str '1'", None),
    ('gitdepth', True, "'gitdepth' must be a whole number, not bool True",
     None),
    ('include_config', 'yes', "'include_config' must be true or false, not "
     "str 'yes'", None),
    ('gitref', None, "'gitref' must be a string, not empty", None),
    ('iteration', 3, "'iteration' must be a string, not int 3",
     'quote it: iteration: "3"'),
    ('constraints', 'uc.txt', "'constraints' must be a list, not str 'uc.txt'",
     'a list of upper-constraints URLs or paths'),
    ('scripts', ['postinst'], "'scripts' must be a mapping, not list",
     'preinst/postinst/prerm/postrm'),
])
def test_a_value_of_the_wrong_type(key, value, what, hint):
    error = refused(key, value)
    assert error.what.startswith(what)
    if hint:
        assert hint in error.hint
    else:
        assert error.hint is None


def test_a_long_value_is_shortened_in_the_message():
    error = refused('gitref', ['x' * 200])
    assert len(error.what) < 120


def test_a_value_outside_the_choices():
    error = refused('installer', 'poetry')
    assert error.what == "'installer' must be one of pip, uv, not str 'poetry'"
    assert error.hint == 'pip or uv'


@pytest.mark.parametrize('key, value, what', [
    ('builders', ['nfpm-deb', 1], "every item of 'builders' must be a string, "
     'not int 1'),
    ('builder_options', {'nfpm-deb': 'xz'}, "every item of 'builder_options' "
     "must be a mapping, not str 'xz'"),
    ('systemd_units', {'a.service': None}, "every item of 'systemd_units' must "
     'be a string, not empty'),
])
def test_an_item_of_the_wrong_type(key, value, what):
    error = refused(key, value)
    assert error.what == what
    assert error.hint == (FIELDS[key].help or None)


@pytest.mark.parametrize('item', ['-e /src/x', '  --pre', 'six\n--index-url=x'])
def test_a_requirement_is_never_a_pip_option(item):
    error = refused('pip_dependencies', ['six', item])
    assert error.what == f"'pip_dependencies' lists {item!r}, which is not a " \
        'requirement'
    assert 'PIP_INDEX_URL' in error.hint


def test_requirements_pass():
    FIELDS['postinstall_dependencies'].check(
        'postinstall_dependencies', ['six>=1.16', 'https://x/y.whl', './z'],
        WHERE)


def test_a_list_of_names_from_a_set():
    FIELDS['strip'].check('strip', ['tests', 'pycache'], WHERE)
    error = refused('strip', ['tests', 'docs'])
    assert error.what == "'strip' has the unknown item 'docs'"
    assert error.hint == 'strip items are: tests, pycache, sources'


@pytest.mark.parametrize('value, what', [
    ({'debian': ['libssl3']}, "'system_dependencies' names the unknown format "
     "'debian'"),
    ({'deb': 'libssl3'}, "'system_dependencies.deb' must be a list, not str"),
    ({'rpm': ['openssl', 3]}, "every item of 'system_dependencies.rpm' must be "
     'a string, not int 3'),
    ('libssl3', "'system_dependencies' must be a list, not str"),
])
def test_a_per_format_list(value, what):
    error = refused('system_dependencies', value)
    assert error.what.startswith(what)


def test_a_per_format_list_takes_a_list_or_formats():
    field = FIELDS['system_dependencies']
    field.check('system_dependencies', ['libssl3'], WHERE)
    field.check('system_dependencies', {'all': ['a'], 'deb': [], 'rpm': ['b']},
                WHERE)


# -- merging ------------------------------------------------------------------

def test_replace_takes_the_projects_value():
    assert FIELDS['gitref'].merge('master', 'stable/2025.1') == 'stable/2025.1'
    assert FIELDS['builders'].merge(['nfpm-deb'], ['nfpm-rpm']) == ['nfpm-rpm']


def test_extend_adds_up_once_each():
    assert FIELDS['pip_dependencies'].merge(['a', 'b'], ['b', 'c']) == \
        ['a', 'b', 'c']


def test_deep_merges_mappings_and_leaves_the_settings_alone():
    settings = {'nfpm-deb': {'compression': 'xz', 'level': 1}, 'docker': {}}
    merged = FIELDS['builder_options'].merge(
        settings, {'nfpm-deb': {'compression': 'gzip'}})
    assert merged == {'nfpm-deb': {'compression': 'gzip', 'level': 1},
                      'docker': {}}
    assert settings['nfpm-deb'] == {'compression': 'xz', 'level': 1}


@pytest.mark.parametrize('settings, project, merged', [
    (['a'], ['b', 'a'], ['a', 'b']),
    (['a'], {'deb': ['d']}, {'all': ['a'], 'deb': ['d']}),
    ({'rpm': ['r']}, ['a'], {'all': ['a'], 'rpm': ['r']}),
    ({'deb': ['d'], 'all': ['a']}, {'deb': ['d', 'e']},
     {'all': ['a'], 'deb': ['d', 'e']}),
])
def test_per_format_lists_add_up_format_by_format(settings, project, merged):
    assert FIELDS['system_dependencies'].merge(settings, project) == merged


def test_per_format_of_a_list_or_nothing():
    assert schema.per_format(None) == {'all': []}
    assert schema.per_format(['a']) == {'all': ['a']}
    assert schema.per_format({'deb': None}) == {'deb': []}


def test_every_field_is_well_formed():
    for key, field in FIELDS.items():
        assert field.scopes and field.scopes <= schema.BOTH, key
        assert field.merge_rule in ('replace', 'extend', 'deep'), key
        assert field.type in (str, bool, int, list, dict), key
        if field.default is not None:
            field.check(key, field.default, WHERE)


# -- through the loader: the line of the key ----------------------------------

@pytest.mark.parametrize('line, text, what', [
    (4, "installer: poetry", "'installer' must be one of pip, uv"),
    (4, "strip: [docs]", "'strip' has the unknown item 'docs'"),
    (4, "system_dependencies: {debian: [x]}", "unknown format 'debian'"),
    (4, "builders: [nfpm-deb, 2]", "every item of 'builders'"),
])
def test_a_settings_key_error_names_its_line(tmp_path, line, text, what):
    path = tmp_path / 'manifest.yml'
    path.write_text(f"settings:\n  version: '1.0'\n  python: /usr/bin/python3\n"
                    f"  {text}\nprojects: [{{name: nova}}]\n")
    with pytest.raises(errors.ManifestError) as caught:
        manifest.load(path).render('nova')
    assert what in caught.value.what
    assert caught.value.where == f'{path}:{line}'


def test_a_project_key_error_names_its_line(tmp_path):
    path = tmp_path / 'manifest.yml'
    path.write_text("settings: {version: '1.0'}\nprojects:\n  - name: nova\n"
                    "    gitdepth: deep\n")
    with pytest.raises(errors.ManifestError) as caught:
        manifest.load(path).render('nova')
    assert caught.value.where == f'{path}:4'


def test_a_settings_only_key_in_a_project(tmp_path):
    path = tmp_path / 'manifest.yml'
    path.write_text("settings: {version: '1.0'}\nprojects:\n  - name: nova\n"
                    "    parallel_build: false\n")
    with pytest.raises(errors.ManifestError) as caught:
        manifest.load(path)
    assert 'parallel_build' in caught.value.what
    assert caught.value.where == f'{path}:4'


def test_a_rejected_2014_key_says_what_to_write(tmp_path):
    path = tmp_path / 'manifest.yml'
    path.write_text("settings:\n  version: '1.0'\n  install_command: pip x\n"
                    "projects: [{name: nova}]\n")
    with pytest.raises(errors.ManifestError) as caught:
        manifest.load(path)
    assert "'install_command' is no longer supported" in caught.value.what
    assert caught.value.where == f'{path}:3'
    assert 'pip_dependencies' in caught.value.hint

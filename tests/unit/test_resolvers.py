"""Unit tests of the requirements-file and upper-constraints resolvers.

No network: constraints come from the real openstack/requirements files in
shared/reference and from files written under tmp_path; the HTTP client
reads local paths and, offline, refuses everything else.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap import plugins as drivers
from giftwrap.venv.interpreter import Interpreter
from giftwrap.resolve import reqfiles
from giftwrap.resolve.http import HttpClient, HttpError
from giftwrap.resolvers.requirements_file import RequirementsFile
from giftwrap.resolvers.upper_constraints import (
    UpperConstraints, series_of, tox_constraints_url)
from tests.httpserver import resolve_context


def env(version: str) -> dict[str, str]:
    return Interpreter(Path('/usr/bin/python3'), version).marker_environment()


@pytest.fixture
def http(tmp_path):
    with HttpClient(tmp_path / 'cache', offline=True) as client:
        yield client


def run(resolver_class, tmp_path, http, options=None, **kwargs):
    """Resolve with ``options`` validated exactly as a build would."""
    validated = drivers.validate_options(resolver_class.options, options or {},
                                         driver_name='test')
    context = resolve_context(tmp_path, http=http, options=validated, **kwargs)
    return resolver_class(context).resolve()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- parsing the real upper-constraints files ------------------------------

@pytest.mark.parametrize('name, python, count', [
    ('master.txt', '3.8.18', 575), ('master.txt', '3.11.2', 575),
    ('stable-2025.1.txt', '3.8.18', 577), ('stable-2025.1.txt', '3.9.18', 588),
    ('stable-2025.1.txt', '3.11.2', 585), ('stable-2025.2.txt', '3.9.18', 572),
    ('stable-2025.2.txt', '3.11.2', 569),
    ('unmaintained-yoga.txt', '3.8.18', 601),
    ('unmaintained-yoga.txt', '3.9.18', 565),
    ('unmaintained-yoga.txt', '3.11.2', 564),
])
def test_real_files_counts(reference, name, python, count):
    path = reference / 'upper-constraints' / name
    pins = reqfiles.parse_constraints(path.read_text(), str(path), env(python))
    assert len(pins) == count
    # each name once: markers never select two versions of one project
    assert len({p.key for p in pins}) == count


@pytest.mark.parametrize('python, alabaster, sphinx', [
    ('3.9.18', '0.7.16', '7.4.7'), ('3.11.2', '1.0.0', '8.1.3')])
def test_stable_2025_1_markers(reference, python, alabaster, sphinx):
    path = reference / 'upper-constraints' / 'stable-2025.1.txt'
    pins = {p.key: p for p in reqfiles.parse_constraints(
        path.read_text(), str(path), env(python))}
    assert pins['alabaster'].version == alabaster
    assert pins['sphinx'].version == sphinx
    assert pins['sphinx'].name == 'Sphinx'  # names are kept as written
    assert pins['oslo-config'].version == '9.7.2'


def test_yoga_markers(reference):
    path = reference / 'upper-constraints' / 'unmaintained-yoga.txt'
    text = path.read_text()
    py38 = {p.key: p.version for p in reqfiles.parse_constraints(
        text, str(path), env('3.8.18'))}
    py36 = {p.key: p.version for p in reqfiles.parse_constraints(
        text, str(path), env('3.6.15'))}
    py311 = {p.key: p.version for p in reqfiles.parse_constraints(
        text, str(path), env('3.11.2'))}
    assert (py36['pint'], py38['pint']) == ('0.17', '0.18')
    assert 'pint' not in py311
    assert py38['six'] == py311['six'] == '1.16.0'


def test_constraints_bad_line_names_file_and_line():
    with pytest.raises(errors.ResolveError) as info:
        reqfiles.parse_constraints('six===1.0\n<!DOCTYPE html>\n', 'uc.txt',
                                   env('3.11.2'))
    assert info.value.where == 'uc.txt:2'


def test_constraints_ignore_ranges_and_options():
    text = '-e git+https://x/y#egg=y\nsix>=1.0\nfoo==1.*\nbar==2.0 --hash=sha256:00\n'
    pins = reqfiles.parse_constraints(text, 'uc.txt', env('3.11.2'))
    assert [str(p) for p in pins] == ['bar==2.0']


# -- upper-constraints resolver ---------------------------------------------

@pytest.mark.parametrize('setup_cfg, pyproject, name', [
    ('[metadata]\nname = glance_store\n', None, 'glance-store'),
    (None, '[project]\nname = "glance-store"\nversion = "1"\n', 'glance_store'),
    (None, None, 'glance_store'),
])
def test_drops_the_project_itself(reference, tmp_path, http, setup_cfg,
                                  pyproject, name):
    src = tmp_path / 'src'
    if setup_cfg:
        write(src / 'setup.cfg', setup_cfg)
    if pyproject:
        write(src / 'pyproject.toml', pyproject)
    uc = reference / 'upper-constraints'
    for file in ('master.txt', 'unmaintained-yoga.txt'):  # _ and - spellings
        pins = run(UpperConstraints, tmp_path, http, {'url': str(uc / file)},
                   name=name if not (setup_cfg or pyproject) else 'glance')
        assert 'glance-store' not in pins.pins
        assert 'python-glanceclient' in pins.pins


def test_self_drop_is_exact_not_a_prefix(tmp_path, http):
    uc = write(tmp_path / 'uc.txt', 'glance===1\nglance_store===2\n')
    pins = run(UpperConstraints, tmp_path, http, {'url': str(uc)},
               name='glance')
    assert list(pins.pins) == ['glance-store']


def test_urls_merge_in_order_later_wins(tmp_path, http):
    first = write(tmp_path / 'a.txt', 'six===1.0\nbar===1\n')
    second = write(tmp_path / 'b.txt', 'six===2.0\n')
    pins = run(UpperConstraints, tmp_path, http,
               {'urls': [str(first)], 'url': str(second)})
    assert {k: p.version for k, p in pins.pins.items()} == {'six': '2.0',
                                                            'bar': '1'}
    assert pins.provenance['constraints_url'] == f'{first} {second}'
    assert pins.provenance['resolver'] == 'upper-constraints'


def test_relative_url_is_in_the_checkout(tmp_path, http):
    write(tmp_path / 'src' / 'uc.txt', 'six===1.0\n')
    pins = run(UpperConstraints, tmp_path, http, {'url': 'uc.txt'})
    assert str(pins.pins['six']) == 'six==1.0'


def test_dot_relative_url_is_beside_the_manifest(tmp_path, http):
    # constraints vendored in the release repository, as in
    # examples/openstack-2025.2; a checkout file of that name is not read
    write(tmp_path / 'release' / 'uc.txt', 'six===1.0\n')
    write(tmp_path / 'src' / 'uc.txt', 'six===9.9\n')
    context = resolve_context(tmp_path, http=http, options=drivers.validate_options(
        UpperConstraints.options, {'url': './uc.txt'}, driver_name='test'))
    project = dataclasses.replace(context.project_info,
                                  manifest_dir=tmp_path / 'release' / 'sub')
    context = dataclasses.replace(context, project_info=project)
    with pytest.raises(errors.ResolveError):  # ./ is the manifest's directory
        UpperConstraints(context).resolve()
    write(tmp_path / 'release' / 'sub' / 'uc.txt', 'six===1.1\n')
    pins = UpperConstraints(context).resolve()
    assert str(pins.pins['six']) == 'six==1.1'
    assert pins.provenance['constraints_url'] == str(
        tmp_path / 'release' / 'sub' / 'uc.txt')
    options = dict(context.options, url='../uc.txt')
    pins = UpperConstraints(dataclasses.replace(context, options=options)).resolve()
    assert str(pins.pins['six']) == 'six==1.0'


def test_release_from_stable_gitref(tmp_path, http):
    # offline, never fetched: the error shows which URL it would fetch
    with pytest.raises(HttpError) as info:
        run(UpperConstraints, tmp_path, http, gitref='stable/2025.1')
    assert info.value.url == 'https://releases.openstack.org/constraints/upper/2025.1'
    assert 'giftwrap fetch' in info.value.hint


def test_release_option_and_releases_url(tmp_path, http):
    with pytest.raises(HttpError) as info:
        run(UpperConstraints, tmp_path, http,
            {'release': 'zed', 'releases_url': 'http://127.0.0.1:9/uc'})
    assert info.value.url == 'http://127.0.0.1:9/uc/zed'


def test_bad_release_name(tmp_path, http):
    with pytest.raises(errors.ResolveError, match='not an OpenStack series'):
        run(UpperConstraints, tmp_path, http, {'release': '../../etc'})


def test_tox_ini_default(tmp_path, http):
    write(tmp_path / 'src' / 'uc.txt', 'six===1.0\n')
    write(tmp_path / 'src' / 'tox.ini',
          '[testenv]\ndeps =\n  -c{env:TOX_CONSTRAINTS_FILE:{toxinidir}/uc.txt}\n')
    pins = run(UpperConstraints, tmp_path, http)
    assert pins.provenance['constraints_from'] == 'tox.ini'
    assert list(pins.pins) == ['six']


def test_nothing_to_go_on(tmp_path, http):
    with pytest.raises(errors.ResolveError) as info:
        run(UpperConstraints, tmp_path, http, gitref='master')
    assert 'release' in info.value.hint and 'url' in info.value.hint


def test_empty_constraints_file(tmp_path, http):
    uc = write(tmp_path / 'uc.txt', '# nothing\n')
    with pytest.raises(errors.ResolveError, match='holds no constraints'):
        run(UpperConstraints, tmp_path, http, {'url': str(uc)})


@pytest.mark.parametrize('gitref, series', [
    ('stable/2025.1', '2025.1'), ('unmaintained/yoga', 'yoga'),
    ('refs/heads/stable/zed', 'zed'), ('master', None), ('27.0.0', None),
    ('yoga-eom', None), ('stable/../x', None)])
def test_series_of(gitref, series):
    assert series_of(gitref) == series


RELEASES = 'https://releases.openstack.org/constraints/upper/master'


@pytest.mark.parametrize('tox_ini, url', [
    (f'[testenv]\ndeps =\n  -c{{env:TOX_CONSTRAINTS_FILE:{RELEASES}}}\n'
     '  -r{toxinidir}/requirements.txt\n', RELEASES),
    ('[testenv]\ninstall_command = python -m pip install '
     '-c{env:UPPER_CONSTRAINTS_FILE:https://x/uc?h=stable/ocata} {opts} {packages}\n',
     'https://x/uc?h=stable/ocata'),
    (f'[testenv]\nconstraints = {{env:TOX_CONSTRAINTS_FILE:{RELEASES}}}\n', RELEASES),
    ('[testenv]\nconstraints = https://example.invalid/uc.txt\n',
     'https://example.invalid/uc.txt'),
    ('[testenv]\ndeps = -c{env:TOX_CONSTRAINTS_FILE:{toxinidir}/upper-constraints.txt}\n',
     '{toxinidir}/upper-constraints.txt'),
    ('[testenv]\ndeps = -chttps://example.invalid/uc.txt\n',
     'https://example.invalid/uc.txt'),
    ('[testenv]\n# deps = -c{env:TOX_CONSTRAINTS_FILE:https://old}\n'
     'deps = -r{toxinidir}/requirements.txt\n', None),
    ('[testenv]\ndeps = -r{toxinidir}/requirements.txt\n', None),
])
def test_tox_constraints_url(tmp_path, tox_ini, url):
    write(tmp_path / 'tox.ini', tox_ini)
    assert tox_constraints_url(tmp_path) == url


def test_no_tox_ini(tmp_path):
    assert tox_constraints_url(tmp_path) is None


def test_legacy_cgit_url_is_rewritten(tmp_path, http):
    write(tmp_path / 'src' / 'tox.ini', '[testenv]\ndeps = -c{env:UPPER_CONSTRAINTS_FILE:'
          'https://git.openstack.org/cgit/openstack/requirements/plain/'
          'upper-constraints.txt?h=stable/queens}\n')
    with pytest.raises(HttpError) as info:
        run(UpperConstraints, tmp_path, http)
    assert info.value.url == ('https://opendev.org/openstack/requirements/raw/'
                              'branch/stable/queens/upper-constraints.txt')


def test_cache_key_only_for_commit_urls():
    sha = '19088b84dc74c8f1e31f2547b8c3d5de81a6695e'
    raw = f'https://opendev.org/openstack/requirements/raw/commit/{sha}/upper-constraints.txt'
    assert reqfiles.cache_key(raw) == raw
    assert reqfiles.cache_key(RELEASES) is None
    assert reqfiles.cache_key(
        'https://opendev.org/openstack/requirements/raw/branch/stable/2025.1/'
        'upper-constraints.txt') is None


# -- requirements-file resolver ---------------------------------------------

def test_requirements_file_pins_and_ranges(tmp_path, http):
    write(tmp_path / 'src' / 'requirements.txt', '\n'.join([
        '# a comment', '', 'six==1.16.0  # MIT', 'pbr===6.1.0',
        'cliff>=4.13.0 # Apache-2.0', 'coverage!=4.4,>=4.0',
        'foo==1.*', 'Bar[extra]>=2', 'oslo.config==9.7.2 \\',
        '    --hash=sha256:0123', 'pywin32>=1;sys_platform=="win32"  # PSF',
        'tomli==2.0.1; python_version < "3.11"',
        '--index-url https://pypi.invalid/simple', '-f https://x.invalid/',
        '--extra-index-url=https://y.invalid/', '--pre', '']))
    pins = run(RequirementsFile, tmp_path, http, python_version='3.11.2')
    assert sorted(str(p) for p in pins.pins.values()) == [
        'oslo.config==9.7.2', 'pbr==6.1.0', 'six==1.16.0']
    assert pins.requirements == ('cliff>=4.13.0', 'coverage!=4.4,>=4.0',
                                 'foo==1.*', 'Bar[extra]>=2')
    assert dict(pins.provenance) == {'resolver': 'requirements-file',
                                     'file': 'requirements.txt'}


def test_markers_for_the_target_interpreter(tmp_path, http):
    write(tmp_path / 'src' / 'requirements.txt',
          'tomli==2.0.1; python_version < "3.11"\nsix==1.0\n')
    old = run(RequirementsFile, tmp_path, http, python_version='3.9.18')
    assert 'tomli' in old.pins
    new = run(RequirementsFile, tmp_path, http, python_version='3.12.1')
    assert 'tomli' not in new.pins


def test_includes_are_relative_to_the_including_file(tmp_path, http):
    src = tmp_path / 'src'
    write(src / 'requirements.txt', '-r reqs/base.txt\n-c reqs/pins.txt\n')
    write(src / 'reqs' / 'base.txt', '--requirement=more.txt\nsix>=1\n')
    write(src / 'reqs' / 'more.txt', 'pbr==6.0\n')
    write(src / 'reqs' / 'pins.txt', 'six==1.16.0\nrange<2\n-e git+https://x/y#egg=y\n')
    pins = run(RequirementsFile, tmp_path, http)
    assert {k: p.version for k, p in pins.pins.items()} == {
        'pbr': '6.0', 'six': '1.16.0'}
    assert pins.requirements == ('six>=1',)


def test_include_cycle(tmp_path, http):
    src = tmp_path / 'src'
    write(src / 'requirements.txt', '-r a.txt\n')
    write(src / 'a.txt', 'six==1\n-r b.txt\n')
    write(src / 'b.txt', '-r a.txt\n')
    with pytest.raises(errors.ResolveError, match='include each other') as info:
        run(RequirementsFile, tmp_path, http)
    assert info.value.where == f'{(src / "b.txt").resolve()}:1'


def test_diamond_includes_are_fine(tmp_path, http):
    src = tmp_path / 'src'
    write(src / 'requirements.txt', '-r a.txt\n-r b.txt\n')
    write(src / 'a.txt', '-r c.txt\n')
    write(src / 'b.txt', '-r c.txt\n')
    write(src / 'c.txt', 'six==1\n')
    assert list(run(RequirementsFile, tmp_path, http).pins) == ['six']


@pytest.mark.parametrize('line', ['-r ../outside.txt', '-r /etc/hostname',
                                  '-c file:///etc/hostname'])
def test_includes_stay_in_the_checkout(tmp_path, http, line):
    write(tmp_path / 'outside.txt', 'six==1\n')
    write(tmp_path / 'src' / 'requirements.txt', line + '\n')
    with pytest.raises(errors.ResolveError, match='outside the checkout'):
        run(RequirementsFile, tmp_path, http)


def test_file_option_may_not_escape(tmp_path, http):
    write(tmp_path / 'outside.txt', 'six==1\n')
    with pytest.raises(errors.ResolveError, match='outside the checkout'):
        run(RequirementsFile, tmp_path, http, {'file': '../outside.txt'})


def test_absolute_file_option(tmp_path, http):
    other = write(tmp_path / 'pins' / 'freeze.txt', '-r more.txt\n')
    write(tmp_path / 'pins' / 'more.txt', 'six==1\n')
    pins = run(RequirementsFile, tmp_path, http, {'file': str(other)})
    assert list(pins.pins) == ['six']
    assert pins.provenance['file'] == str(other.resolve())


def test_missing_file_names_path_and_option(tmp_path, http):
    with pytest.raises(errors.ResolveError) as info:
        run(RequirementsFile, tmp_path, http, {'file': 'tools/pip-requires'})
    assert str(tmp_path / 'src' / 'tools' / 'pip-requires') in info.value.what
    assert 'file' in info.value.hint


def test_missing_include(tmp_path, http):
    src = tmp_path / 'src'
    write(src / 'requirements.txt', 'six==1\n-r gone.txt\n')
    with pytest.raises(errors.ResolveError, match='does not exist') as info:
        run(RequirementsFile, tmp_path, http)
    assert info.value.where.endswith('requirements.txt:2')


def test_editable_and_url_lines_keep_the_name(tmp_path, http):
    write(tmp_path / 'src' / 'requirements.txt', '\n'.join([
        '-e git+https://opendev.org/openstack/oslo.db#egg=oslo.db',
        'git+https://opendev.org/openstack/nova@abc#egg=nova-27.1.0',
        'requests @ https://files.invalid/requests-2.0.tar.gz',
        '-e .', '-e file://' + str(tmp_path / 'src'), '.', '']))
    pins = run(RequirementsFile, tmp_path, http, name='glance')
    assert pins.requirements == ('oslo.db', 'nova>=27.1.0', 'requests')
    assert not pins.pins


def test_url_line_without_a_name(tmp_path, http):
    write(tmp_path / 'src' / 'requirements.txt',
          'https://files.invalid/thing.tar.gz\n')
    with pytest.raises(errors.ResolveError, match='egg=NAME'):
        run(RequirementsFile, tmp_path, http)


def test_project_itself_is_dropped(tmp_path, http):
    src = tmp_path / 'src'
    write(src / 'setup.cfg', '[metadata]\nname = glance_store\n')
    write(src / 'requirements.txt', 'glance-store==4.9.1\nsix==1\n'
          '-e git+https://opendev.org/openstack/glance_store#egg=glance_store\n')
    pins = run(RequirementsFile, tmp_path, http, name='glance-store')
    assert list(pins.pins) == ['six'] and pins.requirements == ()


def test_not_a_requirement(tmp_path, http):
    write(tmp_path / 'src' / 'requirements.txt', 'six==1\nthis is not one\n')
    with pytest.raises(errors.ResolveError) as info:
        run(RequirementsFile, tmp_path, http)
    assert info.value.where.endswith('requirements.txt:2')


def test_remote_file_offline(tmp_path, http):
    with pytest.raises(HttpError, match='offline'):
        run(RequirementsFile, tmp_path, http,
            {'file': 'https://example.invalid/requirements.txt'})


@pytest.mark.parametrize('text, lines', [
    ('a\\\nb\n', ['a b']),
    ('x # c\n  # only\n\ny#frag\n', ['x', 'y#frag']),
    ('last\\', ['last']),
])
def test_logical_lines(text, lines):
    assert [line.text for line in reqfiles.logical_lines(text, 'f')] == lines


@pytest.mark.parametrize('url, requirement', [
    ('git+https://x/y#egg=oslo.db', 'oslo.db'),
    ('git+https://x/y#egg=nova-27.1.0', 'nova>=27.1.0'),
    ('git+https://x/y#subdirectory=a&egg=python-novaclient',
     'python-novaclient'),
    ('https://x/y.tar.gz', None)])
def test_egg_requirement(url, requirement):
    assert reqfiles.egg_requirement(url) == requirement


def fingerprint(resolver_class, tmp_path, http, options=None, **kwargs):
    """The fingerprint, taken as a warm rebuild takes it: no checkout."""
    validated = drivers.validate_options(resolver_class.options, options or {},
                                         driver_name='test')
    context = resolve_context(tmp_path, http=http, options=validated, **kwargs)
    return resolver_class(dataclasses.replace(context, checkout=None)
                          ).fingerprint()


def test_fingerprint_follows_the_constraints_text(tmp_path, http):
    uc = write(tmp_path / 'uc.txt', 'six===1.0\n')
    first = fingerprint(UpperConstraints, tmp_path, http, {'url': str(uc)})
    assert first == fingerprint(UpperConstraints, tmp_path, http,
                                {'url': str(uc)})
    write(uc, 'six===1.1\n')
    assert fingerprint(UpperConstraints, tmp_path, http,
                       {'url': str(uc)}) not in (None, first)
    # a file in the checkout is the commit's: named, not read
    assert fingerprint(UpperConstraints, tmp_path, http, {'url': 'uc.txt'})


def test_no_fingerprint_where_the_checkout_or_a_repository_decides(
        tmp_path, http):
    # tox.ini (in the checkout) names the constraints of a master gitref
    assert fingerprint(UpperConstraints, tmp_path, http) is None
    assert fingerprint(UpperConstraints, tmp_path, http,
                       {'repo': str(tmp_path)}) is None
    assert fingerprint(RequirementsFile, tmp_path, http) is None

"""Unit tests of reading CI logs, Zuul reports and Change-Id footers.

The log text is what OpenDev's job-output.txt really looks like: the
``<ts> | <host> | `` prefix, Ansible banners, ANSI colour, tox 3 and tox 4
(-vv) output, pip's output, pbr's ``# git sha`` comments, and lines after
a freeze block that look like pins but are not.
"""

from __future__ import annotations

import pytest

from giftwrap import errors
from giftwrap.resolvers import cilogs, gerrit
from giftwrap.resolvers.gerrit_logs import branch_from_ref, project_from_url
from giftwrap.resolvers.zuul import Build
from tests import gitutil
from tests.fake_opendev import FIXTURES, build_record, flatten

TS = '2026-08-18 11:04:55.311204 | ubuntu-noble | '
OLD = '2014-06-10 15:12:33.901 | '


def log(*lines: str, prefix: str = TS) -> str:
    return ''.join(prefix + line + '\n' for line in lines)


def pins(found: cilogs.Found | None) -> dict[str, str]:
    assert found is not None
    return {p.name: p.version for p in found.pins}


# -- the log line format --------------------------------------------------------

def test_log_texts_prefixes_banners_and_ansi():
    text = (TS + '\x1b[1mpy312: \x1b[32mOK\x1b[0m\r\n'
            '2026-08-18 11:04:57.100111 | TASK [tox : Run tox]\n'
            'a raw line | with a pipe\n'
            + OLD + '+ .tox/py27/bin/pbr freeze | sort -f\n')
    assert list(cilogs.log_texts(text)) == [
        'py312: OK', 'TASK [tox : Run tox]', 'a raw line | with a pipe',
        '+ .tox/py27/bin/pbr freeze | sort -f']


@pytest.mark.parametrize('text, pin, source', [
    ('oslo.config==10.7.0', ('oslo.config', '10.7.0'), None),
    ('PyYAML===6.0.3', ('PyYAML', '6.0.3'), None),
    ('alembic==0.6.5  # git sha 8cd4a3f', ('alembic', '0.6.5'), None),
    ('-e git+https://opendev.org/openstack/nova@1f2e3d4#egg=nova', None, 'nova'),
    ('-e /home/zuul/src/opendev.org/openstack/nova', None, None),
    ('python-openstackclient @ file:///home/zuul/src/x.tar.gz', None,
     'python-openstackclient'),
])
def test_parse_entry(text, pin, source):
    entry = cilogs.parse_entry(text)
    assert (entry.pin.name, entry.pin.version) == pin if pin else entry.pin is None
    assert entry.source_name == source


@pytest.mark.parametrize('text', [
    '', 'Totals', '======', 'py312: OK (2.1 seconds)', 'oslo.config>=10.0',
    '{0} nova.tests.unit.test_x.TestX.test_y [0.1s] ... ok'])
def test_not_entries(text):
    assert cilogs.parse_entry(text) is None


# -- tox 3 ------------------------------------------------------------------------

def test_tox3_takes_the_last_installed_line():
    text = log('py38 installed: cliff==3.10.1,openstacksdk==0.61.0',
               'py38 run-test: commands[0] | stestr run',
               '.package installed: pbr==5.8.1,setuptools==65.0.0',
               '\x1b[1mpy38 installed: cliff==3.10.1,openstacksdk==0.62.0,'
               '-e git+https://opendev.org/openstack/python-openstackclient'
               '@4e9cdb4#egg=python_openstackclient\x1b[0m',
               'py38 run-test: commands[0] | stestr run')
    found = cilogs.find_pins(text)
    assert found.method == cilogs.TOX3
    assert pins(found) == {'cliff': '3.10.1', 'openstacksdk': '0.62.0'}
    assert found.source_names == {'python-openstackclient'}


def test_tox3_fixture():
    found = cilogs.find_pins((FIXTURES / 'tox3-job-output.txt').read_text())
    assert found.method == cilogs.TOX3
    assert pins(found)['openstacksdk'] == '0.62.0'
    assert 'tox' not in pins(found)  # ensure-tox's pip output is not tox's


# -- freeze blocks ----------------------------------------------------------------

TOX4_BLOCK = [
    'py312: 110001 W freeze> python -m pip freeze --all [tox/tox_env/api.py:464]',
    'cliff==4.15.0',
    '# Editable install with no version control (nova==31.1.0.dev12)',
    '-e /home/zuul/src/opendev.org/openstack/nova',
    'oslo.config==10.7.0',
    'pip==25.2',
    'py312: 110561 I exit 0 (0.56 seconds) /home/zuul/src/opendev.org/'
    'openstack/nova> python -m pip freeze --all pid=5188 [tox/execute/api.py:286]',
    'py312: 110562 W cliff==4.15.0,nova @ file:///home/zuul/src/nova,'
    'oslo.config==10.7.0,pip==25.2 [tox/tox_env/python/api.py:180]',
    'py312: 110600 W commands[0]> stestr run [tox/tox_env/api.py:425]',
    'six==1.16.0',
]


def test_tox4_block_with_comments_exit_line_and_comma_list():
    found = cilogs.find_pins(log(*TOX4_BLOCK))
    assert found.method == cilogs.TOX4
    assert pins(found) == {'cliff': '4.15.0', 'oslo.config': '10.7.0',
                           'pip': '25.2'}  # never six: after the block
    assert found.source_names == {'nova'}


def test_tox4_comma_list_alone_and_the_last_block_wins():
    text = log(*TOX4_BLOCK[:1], *TOX4_BLOCK[7:8],
               'py312: 120001 W freeze> python -m pip freeze --all',
               'py312: 120562 W cliff==4.16.0,oslo.config==10.7.0',
               'py312: OK (2.10 seconds)', 'cliff==9.9.9')
    assert pins(cilogs.parse_freeze(cilogs.log_texts(text))) == {
        'cliff': '4.16.0', 'oslo.config': '10.7.0'}


def test_2014_pbr_freeze_stops_at_the_end_marker():
    text = log("+ echo 'Begin pip freeze output from test virtualenv:'",
               'Begin pip freeze output from test virtualenv:',
               '+ .tox/py27/bin/pbr freeze',
               'alembic==0.6.5',
               'oslo.config==1.4.0.0a3  # git sha 2c0b1e5',
               '-e git+https://review.openstack.org/openstack/nova@3fa2b7e'
               '#egg=nova-master',
               '=' * 70,
               'Ran 4123 tests in 801.2s',
               'six==1.7.3', prefix=OLD)
    found = cilogs.find_pins(text)
    assert found.method == cilogs.PIP_FREEZE
    assert pins(found) == {'alembic': '0.6.5', 'oslo.config': '1.4.0.0a3'}


def test_echo_of_freeze_is_not_a_marker():
    text = log("+ echo 'Begin pip freeze output'", 'alembic==0.6.5', prefix=OLD)
    assert cilogs.find_pins(text) is None


def test_tox4_freeze_fixture_ignores_what_follows():
    found = cilogs.find_pins(
        (FIXTURES / 'tox4-freeze-job-output.txt').read_text())
    assert found.method == cilogs.TOX4
    assert pins(found)['openstacksdk'] == '4.18.0'  # the second run's
    assert pins(found)['cryptography'] == '43.0.3'
    assert 'six' not in pins(found)


# -- pip's "Successfully installed" ------------------------------------------------

def test_pip_lines_only_from_tox_install_steps():
    text = log('Successfully installed tox-4.28.4 virtualenv-20.33.1',
               'py312: 402 W install_deps> python -I -m pip install -c uc.txt '
               '-r requirements.txt [tox/tox_env/api.py:425]',
               'Successfully installed Babel-2.17.0 oslo.config-10.7.0 '
               'python-novaclient-18.13.0',
               ".pkg: 99300 W install_requires> python -I -m pip install "
               "'pbr>=2.0.0' [tox/tox_env/api.py:425]",
               'Successfully installed pbr-6.0.0',
               'py312: 108010 W install_package> python -I -m pip install '
               '--force-reinstall --no-deps nova-31.0.0.tar.gz',
               'Successfully installed nova-31.0.0',
               'py312: 4702 W commands[0]> stestr run',
               'Successfully installed fake-1.0') + (
        '2026-08-18 11:09:05.100021 | TASK [ensure-pip : Install pip]\n'
        + log('Successfully installed pip-25.2'))
    found = cilogs.find_pins(text)
    assert found.method == cilogs.PIP
    assert pins(found) == {'Babel': '2.17.0', 'oslo.config': '10.7.0',
                           'python-novaclient': '18.13.0', 'nova': '31.0.0'}


def test_no_pins_at_all():
    assert cilogs.find_pins(log('py312: OK', 'congratulations :)')) is None


def test_drop_installers_and_names():
    found = cilogs.find_pins(log(*TOX4_BLOCK))
    assert [str(p) for p in cilogs.drop(found.pins, ['CLIFF'])] == [
        'oslo.config==10.7.0']


# -- inventory.yaml ---------------------------------------------------------------

def test_inventory_with_unsafe_tags():
    inventory = cilogs.parse_inventory(
        (FIXTURES / 'inventory.yaml').read_text(), 'inventory.yaml')
    assert inventory.requirements_commit == (
        '3353677727f8351bc58ba98efafe6bc884a0257c')
    assert inventory.projects['openstack/python-openstackclient'] == (
        'python-openstackclient')


def test_inventory_without_requirements():
    text = ('all:\n  vars:\n    zuul:\n      projects:\n'
            '        opendev.org/openstack/nova:\n'
            '          name: openstack/nova\n          short_name: nova\n'
            '          commit: !unsafe 1f2e3d4\n')
    inventory = cilogs.parse_inventory(text, 'inventory.yaml')
    assert inventory.requirements_commit is None
    assert inventory.projects == {'openstack/nova': 'nova'}


@pytest.mark.parametrize('text, message', [
    ('all: [unclosed', 'not valid YAML'),
    ('all:\n  vars: {}\n', 'has no zuul.projects'),
    ('!!python/object:os.system {}', 'not valid YAML'),
])
def test_bad_inventory(text, message):
    with pytest.raises(errors.ResolveError, match=message):
        cilogs.parse_inventory(text, 'inventory.yaml')


# -- Zuul's reports in Gerrit and its build records --------------------------------

REPORT = {
    'author': {'_account_id': 22348, 'name': 'Zuul', 'username': 'zuul'},
    'tag': 'autogenerated:zuul:gate', '_revision_number': 2,
    'date': '2026-08-18 11:12:00.000000000',
    'message': 'Patch Set 2: Verified+2\n\nBuild succeeded (gate pipeline).\n'
               'https://zuul.opendev.org/t/openstack/buildset/5c0a7e3d\n\n'
               '- openstack-tox-pep8 https://zuul.opendev.org/t/openstack/build/'
               '0d1f2e3a4b5c6d7e8f90a1b2c3d4e5f6 : SUCCESS in 3m 41s\n'
               '- openstack-tox-py312 https://zuul.opendev.org/t/openstack/build/'
               '9f8c2d41e7b34a0c8d6f15b2a97e3c10 : SUCCESS in 7m 23s\n'
               '- nova-tox-functional-py312 build/1a2b3c4d5e6f : FAILURE in '
               '1h 02m 03s (non-voting)\n'
               '- nova-grenade-multinode nova-grenade-multinode : SKIPPED\n'
               '- nova-ceph-multistore https://zuul.opendev.org/t/openstack/'
               'build/2b3c : ERROR Project openstack/x does not exist in 42s\n'}


def test_parse_report():
    report = gerrit.parse_report(REPORT)
    assert (report.pipeline, report.patchset, report.succeeded) == ('gate', 2, True)
    assert [(j.name, j.result, j.build_uuid) for j in report.jobs] == [
        ('openstack-tox-pep8', 'SUCCESS', '0d1f2e3a4b5c6d7e8f90a1b2c3d4e5f6'),
        ('openstack-tox-py312', 'SUCCESS', '9f8c2d41e7b34a0c8d6f15b2a97e3c10'),
        ('nova-tox-functional-py312', 'FAILURE', '1a2b3c4d5e6f'),
        ('nova-grenade-multinode', 'SKIPPED', None),
        ('nova-ceph-multistore', 'ERROR', None)]


@pytest.mark.parametrize('change', [
    {'tag': None, 'author': {'_account_id': 30112, 'username': 'acme-ci'}},
    {'message': 'Patch Set 2: -Verified\n\nStarting gate jobs.'},
    {'author': {'username': 'stephenfin'}, 'tag': 'autogenerated:gerrit:merged'},
])
def test_not_reports(change):
    assert gerrit.parse_report({**REPORT, **change}) is None


def test_untagged_zuul_v2_report_and_failure():
    report = gerrit.parse_report({
        'author': {'username': 'zuul'}, 'date': '2016-01-01 00:00:00.000000000',
        'message': 'Patch Set 3: Verified-1\n\nBuild failed (check pipeline).  '
                   'For information on how to proceed, see\nhttps://docs.'
                   'openstack.org/infra/manual/developers.html#automated-testing'
                   '\n\n- gate-nova-python27 http://logs.openstack.org/01/'
                   '950001/3/check/gate-nova-python27/1a2b3c4/ : FAILURE in 9m'})
    assert (report.pipeline, report.patchset, report.succeeded) == ('check', 3, False)
    assert report.jobs[0].build_uuid is None


@pytest.mark.parametrize('flat', [False, True])
def test_build_record_shapes(flat):
    record = build_record('9f8c2d41e7b34a0c8d6f15b2a97e3c10', 'openstack-tox-py312',
                          project='openstack/nova', branch='master',
                          change=950001, patchset=2, pipeline='gate',
                          log_url='https://swift.example/9f8/openstack/9f8c')
    build = Build.from_json(flatten(record) if flat else record, 'url')
    assert (build.change, build.patchset, build.branch) == ('950001', '2', 'master')
    assert build.log_url == 'https://swift.example/9f8/openstack/9f8c/'


@pytest.mark.parametrize('data', [[], {'uuid': 'x'}, 'Build not found'])
def test_not_build_records(data):
    with pytest.raises(errors.ResolveError, match='not a Zuul build record'):
        Build.from_json(data, 'https://zuul/api/tenant/openstack/build/x')


# -- giturl, gitref and the Change-Id walk -------------------------------------

@pytest.mark.parametrize('url, project', [
    ('https://opendev.org/openstack/nova', 'openstack/nova'),
    ('https://opendev.org/openstack/nova.git/', 'openstack/nova'),
    ('git@github.com:openstack/python-novaclient.git', 'openstack/python-novaclient'),
    ('https://git.example.com/mirrors/openstack/nova', None),
    ('/srv/git/nova', None),
    ('nova', None),
])
def test_project_from_url(url, project):
    assert project_from_url(url) == project


def test_branch_from_ref(tmp_path):
    sha = gitutil.make_repo(tmp_path, {'a': 'b'}, tags=['31.0.0'])
    assert branch_from_ref('stable/2025.1', tmp_path) == 'stable/2025.1'
    assert branch_from_ref('refs/heads/master', tmp_path) == 'master'
    assert branch_from_ref('origin/stable/2024.2', tmp_path) == 'stable/2024.2'
    assert branch_from_ref('31.0.0', tmp_path) is None
    assert branch_from_ref(sha, tmp_path) is None
    assert branch_from_ref(sha[:8], tmp_path) is None
    assert branch_from_ref('refs/changes/01/950001/2', tmp_path) is None


ID_A = 'I' + 'a' * 40
ID_B = 'I' + 'b' * 40


def test_walk_takes_the_last_footer_and_skips_local_commits(tmp_path):
    first = gitutil.make_repo(tmp_path, {'a': '1'}, message='Root')
    backport = gitutil.commit(
        tmp_path, {'a': '2'}, f'Fix it\n\nChange-Id: {ID_A}\nChange-Id: {ID_B}'
        '\nSigned-off-by: Dev <dev@example.com>\n(cherry picked from commit '
        f'{first})')
    tip = gitutil.commit(tmp_path, {'a': '3'}, 'Local patch\n\nno footer')
    found = gerrit.find_change_commit(tmp_path, tip)
    assert (found.change_id, found.commit, found.depth) == (ID_B, backport, 1)


def test_walk_follows_gerrit_merges_to_the_second_parent(tmp_path):
    base = gitutil.make_repo(tmp_path, {'a': '1'},
                             message=f'Root\n\nChange-Id: {ID_A}')
    side = gitutil.commit(tmp_path, {'b': '1'}, f'Side\n\nChange-Id: {ID_B}',
                          parents=[base], branch=None)
    merge = gitutil.commit(tmp_path, {}, 'Merge "Side"', parents=[base, side])
    assert gerrit.find_change_commit(tmp_path, merge).commit == side


def test_walk_reaches_the_root(tmp_path):
    tip = gitutil.make_repo(tmp_path, {'a': '1'}, message='Root')
    with pytest.raises(errors.ResolveError, match='back to the root commit'):
        gerrit.find_change_commit(tmp_path, tip)


def test_walk_of_a_commit_not_in_the_checkout(tmp_path):
    gitutil.make_repo(tmp_path, {'a': '1'}, message='Root')
    with pytest.raises(errors.ResolveError, match='is not in the checkout'):
        gerrit.find_change_commit(tmp_path, 'f' * 40)


def test_walk_stops_at_a_shallow_boundary(tmp_path):
    root = gitutil.make_repo(tmp_path, {'a': '1'},
                             message=f'Root\n\nChange-Id: {ID_A}')
    cut = gitutil.commit(tmp_path, {'a': '2'}, 'Edge of a shallow clone')
    tip = gitutil.commit(tmp_path, {'a': '3'}, 'Tip')
    (tmp_path / '.git' / 'shallow').write_text(cut + '\n')
    with pytest.raises(errors.ResolveError, match='ends at') as caught:
        gerrit.find_change_commit(tmp_path, tip)
    assert 'gitdepth' in caught.value.hint and root not in str(caught.value)

"""The gerrit-logs resolver against a fake OpenDev on 127.0.0.1.

Real git history (dulwich), giftwrap's real HTTP client, a real server
speaking Gerrit's, Zuul's and the log server's formats: tox 3 and tox 4
logs, the inventory bridge to upper-constraints, Change-Id pitfalls
(backports, abandoned duplicates, merge commits), every way it fails, the
fallback and the per-commit cache.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from giftwrap import errors
from giftwrap import plugins as drivers
from giftwrap.resolvers import gerrit
from giftwrap.resolvers.gerrit_logs import GerritLogs
from giftwrap.resolve.http import HttpClient
from tests import gitutil
from tests.fake_opendev import (
    REQUIREMENTS_COMMIT, TENANT, FakeOpenDev, change_info, fixture,
    third_party_message, uuid_for, zuul_messages)
from tests.httpserver import resolve_context

CHANGE_ID = 'I85e07e963be41196452760b844a40e7f3223d379'
OTHER_ID = 'I3b1d5e0c9a8f7e6d5c4b3a29181716151413121a'
NAME = 'python-openstackclient'
SETUP_CFG = (f'[metadata]\nname = {NAME}\nsummary = OpenStack Command-line '
             'Client\n\n[files]\npackages =\n    openstackclient\n')
MESSAGE = ('Add network trunk subport commands\n\nAdds "network subport '
           f'list/set/unset".\n\nCloses-Bug: #2091234\nChange-Id: {CHANGE_ID}')


@pytest.fixture
def opendev(monkeypatch):
    # a proxy from the environment must not see loopback requests
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')
    monkeypatch.setenv('no_proxy', '127.0.0.1')
    with FakeOpenDev(hang_limit=5) as server:
        yield server


@pytest.fixture
def http(tmp_path):
    with HttpClient(tmp_path / 'http-cache', timeout=(2, 2), retries=1,
                    backoff=0.01) as client:
        yield client


@pytest.fixture
def uc_master(reference) -> str:
    return (reference / 'upper-constraints' / 'master.txt').read_text()


def checkout(tmp_path, message: str = MESSAGE, branch: str = 'master'):
    """A work tree whose tip carries ``message``; (path, tip commit)."""
    src = tmp_path / 'src'
    gitutil.make_repo(src, {'setup.cfg': SETUP_CFG}, branch=branch,
                      message=f'Initial import\n\nChange-Id: {OTHER_ID}')
    tip = gitutil.commit(src, {'openstackclient/network/v2/trunk.py':
                               'class ListSubport: ...\n'}, message,
                         branch=branch)
    return src, tip


def resolve(tmp_path, http, src, commit, options, *, gitref='master',
            python='3.12.3', giturl=None):
    validated = drivers.validate_options(GerritLogs.options, options,
                                         driver_name='gerrit-logs')
    context = resolve_context(tmp_path, http=http, options=validated,
                              name=NAME, gitref=gitref, python_version=python,
                              checkout=src)
    project = context.project_info
    if giturl:
        project = dataclasses.replace(project, giturl=giturl)
    context = dataclasses.replace(
        context, project_info=project,
        checkout=dataclasses.replace(context.checkout, commit=commit))
    return GerritLogs(context).resolve()


# -- where the pins come from -------------------------------------------------

def test_tox3_installed_gzip_log(opendev, http, tmp_path):
    src, tip = checkout(tmp_path, branch='stable/yoga')
    uuid = opendev.publish(CHANGE_ID, tip, branch='stable/yoga',
                           job='openstack-tox-py38',
                           log=fixture('tox3-job-output.txt'), log_gzip=True)
    pins = resolve(tmp_path, http, src, tip, opendev.options(),
                   gitref='stable/yoga', python='3.8.10')
    # the second tox run's list: after the sibling installs
    assert str(pins.pins['openstacksdk']) == 'openstacksdk==0.62.0'
    assert str(pins.pins['oslo-config']) == 'oslo.config==8.8.1'
    assert NAME not in pins.pins and 'tox' not in pins.pins
    assert len(pins.pins) == 59
    prov = pins.provenance
    assert prov['method'] == 'tox3-installed'
    assert prov['job'] == 'openstack-tox-py38'
    assert prov['zuul_build'] == uuid
    assert prov['log_url'] == opendev.log_url(uuid)
    assert prov['patchset'] == '2' and prov['pipeline'] == 'gate'
    number = prov['gerrit_change']
    assert prov['change_url'] == (
        f'{opendev.base_url}/c/openstack/{NAME}/+/{number}')
    assert prov['change_id'] == CHANGE_ID and prov['change_commit'] == tip
    assert 'requirements_commit' not in prov and 'fallback' not in prov


def test_tox4_freeze_flat_build_record(opendev, http, tmp_path):
    src, tip = checkout(tmp_path)
    opendev.publish(CHANGE_ID, tip, log=fixture('tox4-freeze-job-output.txt'),
                    flat=True)
    pins = resolve(tmp_path, http, src, tip, opendev.options())
    assert pins.provenance['method'] == 'tox4-freeze'
    assert pins.provenance['job'] == 'openstack-tox-py312'
    assert str(pins.pins['openstacksdk']) == 'openstacksdk==4.18.0'
    # lines after the freeze block are the system python's, not pins
    assert str(pins.pins['cryptography']) == 'cryptography==43.0.3'
    assert 'six' not in pins.pins
    assert not {'pip', 'setuptools', 'wheel', NAME} & set(pins.pins)
    assert len(pins.pins) == 58


def test_pip_lines_completed_by_constraints(opendev, http, tmp_path,
                                            uc_master):
    src, tip = checkout(tmp_path)
    opendev.publish(CHANGE_ID, tip, log=fixture('tox4-pip-job-output.txt'),
                    inventory=fixture('inventory.yaml'))
    opendev.add_constraints(REQUIREMENTS_COMMIT, uc_master)
    pins = resolve(tmp_path, http, src, tip, opendev.options())
    prov = pins.provenance
    assert prov['method'] == 'pip-successfully-installed+upper-constraints'
    assert prov['requirements_commit'] == REQUIREMENTS_COMMIT
    assert prov['constraints_url'].endswith(
        f'/raw/commit/{REQUIREMENTS_COMMIT}/upper-constraints.txt')
    assert str(pins.pins['certifi']) == 'certifi==2025.8.3'  # only in the log
    # already installed, so only upper-constraints knows it (not .pkg's pbr)
    assert str(pins.pins['pbr']) == 'pbr==7.0.3'
    assert NAME not in pins.pins  # in u-c, but it is the project itself
    assert prov['dropped'] == NAME
    assert len(pins.pins) > 570


# -- finding the change --------------------------------------------------------

def test_change_id_on_two_branches_picks_the_branch(opendev, http, tmp_path):
    backport = (f'{MESSAGE}\n(cherry picked from commit '
                'f7b6d14b9886435d0af02dddc2c5a41230c3e1db)')
    src, tip = checkout(tmp_path, backport, branch='stable/2025.1')
    opendev.publish(CHANGE_ID, 'f7b6d14b9886435d0af02dddc2c5a41230c3e1db',
                    log=fixture('tox4-freeze-job-output.txt'), number=950001)
    opendev.publish(CHANGE_ID, tip, branch='stable/2025.1', number=953210,
                    log=fixture('tox4-freeze-job-output.txt'))
    pins = resolve(tmp_path, http, src, tip, opendev.options(),
                   gitref='stable/2025.1')
    assert pins.provenance['gerrit_change'] == '953210'


def test_abandoned_duplicate_is_ignored(opendev, http, tmp_path):
    src, tip = checkout(tmp_path)
    opendev.publish(CHANGE_ID, tip, log=fixture('tox4-freeze-job-output.txt'),
                    number=950001)
    duplicate = change_info(
        950400, f'openstack/{NAME}', 'master', CHANGE_ID, [tip],
        status='ABANDONED', messages=zuul_messages(
            opendev.base_url, 'gate', 1,
            [('openstack-tox-py312', uuid_for('dup'), 'SUCCESS', '7m')]))
    duplicate['updated'] = '2026-09-01 08:00:00.000000000'  # listed first
    opendev.add_change(duplicate)
    pins = resolve(tmp_path, http, src, tip, opendev.options())
    assert pins.provenance['gerrit_change'] == '950001'


def test_merge_commit_follows_second_parent(opendev, http, tmp_path):
    src, base = checkout(tmp_path, f'Fix a typo\n\nChange-Id: {OTHER_ID}')
    change = gitutil.commit(src, {'trunk.py': 'x\n'}, MESSAGE,
                            parents=[base], branch=None)
    gitutil.commit(src, {'other.py': 'y\n'}, 'Bump\n\nChange-Id: I' + 'e' * 40)
    merge = gitutil.commit(src, {}, 'Merge "Add network trunk subport commands"',
                           parents=[base, change])
    local = gitutil.commit(src, {'debian/changelog': 'local\n'},
                           'Local packaging tweak')
    opendev.publish(CHANGE_ID, change,
                    log=fixture('tox4-freeze-job-output.txt'))
    pins = resolve(tmp_path, http, src, local, opendev.options())
    assert pins.provenance['change_id'] == CHANGE_ID
    assert pins.provenance['change_commit'] == change
    assert merge != change


def test_no_gate_report_uses_check(opendev, http, tmp_path):
    src, tip = checkout(tmp_path)
    opendev.publish(CHANGE_ID, tip, pipelines=('check',),
                    log=fixture('tox4-freeze-job-output.txt'))
    pins = resolve(tmp_path, http, src, tip, opendev.options())
    assert pins.provenance['pipeline'] == 'check'


def test_unlinked_report_asks_zuul_builds(opendev, http, tmp_path):
    src, tip = checkout(tmp_path)
    uuid = opendev.publish(CHANGE_ID, tip, link=False,
                           log=fixture('tox4-freeze-job-output.txt'))
    change = opendev.changes[-1]
    change['messages'].append(third_party_message(2, 200))
    pins = resolve(tmp_path, http, src, tip, opendev.options())
    assert pins.provenance['zuul_build'] == uuid
    assert any(r.path.startswith(f'{TENANT}/builds?') for r in opendev.requests)


def test_gerrit_paging(opendev, http):
    for number, branch in enumerate(('master', 'stable/2025.1', 'stable/2024.2')):
        opendev.add_change(change_info(951000 + number, f'openstack/{NAME}',
                                       branch, CHANGE_ID, ['a' * 40]))
    review = gerrit.Gerrit(http, opendev.base_url, page_size=1)
    found = review.query([f'change:{CHANGE_ID}'])
    assert sorted(c['branch'] for c in found) == [
        'master', 'stable/2024.2', 'stable/2025.1']
    assert [r.path.rsplit('&S=', 1)[1] for r in opendev.gerrit_requests()] == [
        '0', '1', '2']
    assert opendev.gerrit_requests()[0].path.startswith(
        f'/changes/?q=change:{CHANGE_ID}&o=MESSAGES&o=ALL_REVISIONS&n=1')


# -- failures, the fallback, the cache ----------------------------------------

def test_expired_logs_fail_clearly(opendev, http, tmp_path):
    src, tip = checkout(tmp_path)
    uuid = opendev.publish(CHANGE_ID, tip)  # the build outlived its logs
    with pytest.raises(errors.ResolveError) as caught:
        resolve(tmp_path, http, src, tip, opendev.options())
    text = str(caught.value)
    assert uuid in text and '404' in text and 'expired' in text
    assert 'fallback: upper-constraints' in caught.value.hint


@pytest.mark.parametrize('scheme', ['file://', 'file:', ''])
def test_a_log_url_that_is_not_http_is_refused(opendev, http, tmp_path,
                                               scheme):
    src, tip = checkout(tmp_path)
    local = tmp_path / 'host-logs'
    local.mkdir()
    (local / 'job-output.txt').write_text(fixture('tox3-job-output.txt'))
    uuid = opendev.publish(CHANGE_ID, tip, log=fixture('tox3-job-output.txt'))
    opendev.builds[uuid]['log_url'] = f'{scheme}{local}/'
    with pytest.raises(errors.ResolveError) as caught:
        resolve(tmp_path, http, src, tip, opendev.options())
    text = str(caught.value)
    assert f"gives the log_url '{scheme}{local}/', which is not an http(s) " \
        'URL' in text
    assert uuid in text  # the answer's URL names the build
    assert not any(r.path.startswith('/logs/') for r in opendev.requests)


def test_fallback_to_upper_constraints(opendev, http, tmp_path, uc_master):
    src, tip = checkout(tmp_path)
    opendev.publish(CHANGE_ID, tip)
    url = opendev.add('/constraints/upper/master', uc_master)
    pins = resolve(tmp_path, http, src, tip, opendev.options(
        fallback='upper-constraints', fallback_options={'url': url}))
    prov = pins.provenance
    assert 'expired' in prov['fallback']
    assert prov['fallback_resolver'] == 'upper-constraints'
    assert prov['constraints_url'] == url and prov['resolver'] == 'gerrit-logs'
    assert prov['gerrit_change'] and 'method' not in prov
    assert str(pins.pins['oslo-config']) == 'oslo.config==10.7.0'
    assert NAME not in pins.pins


def test_fallback_options_are_validated_first(opendev, http, tmp_path):
    src, tip = checkout(tmp_path)
    with pytest.raises(errors.DriverError, match="unknown option 'uri'"):
        resolve(tmp_path, http, src, tip, opendev.options(
            fallback='upper-constraints', fallback_options={'uri': 'x'}))
    assert opendev.requests == []


def test_no_matching_job(opendev, http, tmp_path):
    src, tip = checkout(tmp_path)
    opendev.publish(CHANGE_ID, tip, log=fixture('tox4-freeze-job-output.txt'))
    with pytest.raises(errors.ResolveError, match=r"no job matching "
                       r"'openstack-tox-py311'.*it ran: openstack-tox-pep8, "
                       r"openstack-tox-py312, "):
        resolve(tmp_path, http, src, tip, opendev.options(), python='3.11.2')


@pytest.mark.parametrize('where, body', [
    ('/changes/', ")]}'\n[{\"project\": \"openstack/python-openstackcl"),
    ('build', '<html><body>502 Bad Gateway</body></html>'),
])
def test_malformed_json(opendev, http, tmp_path, where, body):
    src, tip = checkout(tmp_path)
    uuid = opendev.publish(CHANGE_ID, tip,
                           log=fixture('tox4-freeze-job-output.txt'))
    opendev.add(where if where.startswith('/') else f'{TENANT}/build/{uuid}',
                body)
    with pytest.raises(errors.ResolveError, match='did not return valid JSON'):
        resolve(tmp_path, http, src, tip, opendev.options())


def test_hanging_gerrit_times_out_quickly(opendev, tmp_path):
    src, tip = checkout(tmp_path)
    opendev.hang('/changes/')
    started = time.monotonic()
    with HttpClient(tmp_path / 'c', timeout=(1, 0.5), retries=0) as client:
        with pytest.raises(errors.ResolveError, match='read timeout'):
            resolve(tmp_path, client, src, tip, opendev.options())
    assert time.monotonic() - started < 4


def test_project_and_branch_must_be_set_for_mirrors(opendev, http, tmp_path):
    src, tip = checkout(tmp_path)
    with pytest.raises(errors.ResolveError, match='Gerrit project') as caught:
        resolve(tmp_path, http, src, tip, opendev.options(),
                giturl='/srv/mirrors/openstack/clients/osc')
    assert 'mirror' in caught.value.hint
    with pytest.raises(errors.ResolveError, match='branch from gitref'):
        resolve(tmp_path, http, src, tip, opendev.options(), gitref=tip[:12])
    opendev.publish(CHANGE_ID, tip, log=fixture('tox4-freeze-job-output.txt'))
    pins = resolve(tmp_path, http, src, tip, opendev.options(
        project=f'openstack/{NAME}', branch='master'), gitref=tip,
        giturl='/srv/mirrors/openstack/clients/osc')
    assert pins.provenance['method'] == 'tox4-freeze'


def test_wrong_branch_says_where_the_change_is(opendev, http, tmp_path):
    src, tip = checkout(tmp_path)
    opendev.publish(CHANGE_ID, tip, branch='stable/2025.2')
    with pytest.raises(errors.ResolveError,
                       match=f'Gerrit has it on: openstack/{NAME} '
                             r'stable/2025.2 \(MERGED\)'):
        resolve(tmp_path, http, src, tip, opendev.options())


def test_second_resolve_asks_nothing(opendev, http, tmp_path, uc_master):
    src, tip = checkout(tmp_path)
    opendev.publish(CHANGE_ID, tip, log=fixture('tox4-pip-job-output.txt'),
                    inventory=fixture('inventory.yaml'))
    opendev.add_constraints(REQUIREMENTS_COMMIT, uc_master)
    first = resolve(tmp_path, http, src, tip, opendev.options())
    asked = len(opendev.requests)
    assert opendev.gerrit_requests()
    second = resolve(tmp_path, http, src, tip, opendev.options())
    assert len(opendev.requests) == asked  # Gerrit included
    assert second == first
    offline = HttpClient(http.cache_dir.parent, offline=True)
    with offline:
        assert resolve(tmp_path, offline, src, tip, opendev.options()) == first

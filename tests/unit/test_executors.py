"""Executors as drivers: listing, choosing, their options, and the dask
executor's checks that need no cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap import plugins as drivers
from giftwrap.plan import planner as plan
from giftwrap.executors import base, dask, local, remote
from tests import projectutil


def test_list_executors(cli):
    result = cli('list-executors', '-f', 'value', '-c', 'Name')
    assert result.status == 0, result.stderr
    assert result.stdout.split() == ['dask', 'local']


def test_both_are_executors():
    assert issubclass(drivers.load(drivers.EXECUTORS, 'local'),
                      base.Executor)
    assert drivers.load(drivers.EXECUTORS, 'dask') is dask.DaskExecutor
    assert local.LocalExecutor.options == {}


def test_unknown_executor_is_refused_before_any_work(cli, tmp_path):
    manifest = projectutil.pinned_manifest(tmp_path)
    result = cli('build', '-m', str(manifest), '-o', str(tmp_path / 'out'),
                 '--executor', 'dusk')
    assert result.status == errors.DriverError.exit_code
    assert "unknown executor 'dusk'" in result.stderr
    assert "did you mean 'dask'" in result.stderr
    assert not (tmp_path / 'out').exists()


def test_local_takes_no_scheduler(cli, tmp_path):
    manifest = projectutil.pinned_manifest(tmp_path)
    result = cli('build', '-m', str(manifest), '-o', str(tmp_path / 'out'),
                 '--scheduler', 'tcp://127.0.0.1:8786')
    assert result.status == errors.DriverError.exit_code
    assert "unknown option 'scheduler' for local" in result.stderr


@pytest.mark.parametrize('options, message', [
    ({}, 'needs a scheduler address'),
    ({'scheduler': 'http://x:1'}, 'needs a scheduler address'),
    ({'scheduler': 'tcp://x:1', 'tls_cert': __file__},
     'TLS certificates were given for a plain tcp://'),
    ({'scheduler': 'tls://x:1', 'tls_cert': '/nonexistent.pem'},
     '/nonexistent.pem does not exist'),
])
def test_dask_options_are_checked(options, message):
    settings = drivers.validate_options(dask.DaskExecutor.options, options,
                                        driver_name='dask')
    with pytest.raises(errors.DriverError, match=message):
        dask.DaskExecutor.check_options(settings)


def _executor(tmp_path):
    manifest = projectutil.pinned_manifest(tmp_path)
    the_plan = plan.make(manifest)
    return dask.DaskExecutor(base.ExecutorContext(
        the_plan, None, lambda *a: None, {'scheduler': 'tcp://127.0.0.1:1'}))


def test_a_worker_that_differs_is_refused_by_name(tmp_path):
    executor = _executor(tmp_path)
    ours = remote.facts(*executor._needs())
    theirs = {**ours, 'giftwrap': '0.0.1', 'unreadable': ['/src/nova'],
              'drivers': {**ours['drivers'],
                          'giftwrap.builders extra': 'x 1'}}
    executor._compare({'tcp://10.0.0.2:4000': ours})  # the same: fine
    with pytest.raises(dask.ExecutorError) as raised:
        executor._compare({'tcp://10.0.0.1:4000': theirs,
                           'tcp://10.0.0.2:4000': ours})
    text = str(raised.value)
    assert f'tcp://10.0.0.1:4000: giftwrap 0.0.1 there, ' \
           f'{ours["giftwrap"]} here' in text
    assert 'giftwrap.builders extra: x 1 there, missing here' in text
    assert 'cannot read the local giturl /src/nova' in text
    assert '10.0.0.2' not in text


def test_needs_names_local_giturls_and_interpreters(tmp_path):
    pythons, giturls = _executor(tmp_path)._needs()
    assert giturls == (str(tmp_path / 'hello-app'),)
    assert len(pythons) == 1 and Path(pythons[0]).is_file()


def test_shipped_files_are_those_the_project_names(tmp_path):
    (tmp_path / 'patches').mkdir()
    (tmp_path / 'patches' / 'a.patch').write_text('patch')
    (tmp_path / 'postinst.sh.j2').write_text('template')
    (tmp_path / 'secret').write_text('not named')
    assert dask.files_named(tmp_path, [
        'patches/a.patch', ' postinst.sh.j2', '../etc/passwd', '/etc/passwd',
        'nothing', '']) == {'patches/a.patch': b'patch',
                            'postinst.sh.j2': b'template'}

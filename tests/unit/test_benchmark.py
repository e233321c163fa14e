"""The benchmark's own logic: its targets, medians, log parsing and the
fpm command (benchmarks/ is a script directory, imported as run.py does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / 'benchmarks'
sys.path.insert(0, str(BENCHMARKS))

import floor  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
from report import (CHANGED, COLD, DASK, DH, DPKG_DEB,  # noqa: E402
                    DPKG_DEB_SAME_TREE, FLOOR,
                    FPM, GIFTWRAP, PACKAGE, UNCHANGED, Row)

#: A changed-commit project log's end, as giftwrap writes it.
LOG = '''\
== system dependencies: 1.32 s
$ /usr/bin/dpkg-deb --root-owner-group -Zzstd --threads-max=2 --build -- a b
[exit status 0, 0.81 s]
== package with dpkg-deb: 1.91 s
== sbom: 0.30 s
'''


def passing() -> list[Row]:
    """Rows meeting every target."""
    return [
        Row(COLD, GIFTWRAP, wall=20.0, peak_kib=80 * 1024),
        Row(COLD, DH, wall=100.0),
        Row(CHANGED, GIFTWRAP, wall=8.0, parts={PACKAGE: 1.5}),
        Row(CHANGED, DH, wall=80.0),
        Row(CHANGED, FPM, wall=40.0),
        Row(CHANGED, FLOOR, wall=4.0,
            parts={DPKG_DEB: 0.6, DPKG_DEB_SAME_TREE: 1.2}),
        Row(UNCHANGED, GIFTWRAP, wall=0.5),
        Row(UNCHANGED, DH, wall=60.0),
        Row(COLD, GIFTWRAP, 8, wall=45.0, peak_kib=100 * 1024),
        Row(COLD, DASK, 8, wall=50.0)]


def verdicts(rows) -> list[str]:
    return [line.split()[0] for line in report.targets(rows).splitlines()]


def replaced(rows, scenario, tool, **changes) -> list[Row]:
    return [Row(**{**r.__dict__, **changes})
            if (r.scenario, r.tool, r.projects) == (scenario, tool, 1)
            else r for r in rows]


def test_every_target_passes():
    assert verdicts(passing()) == ['PASS'] * len(report.TARGETS)


def test_every_target_skips_unmeasured():
    lines = report.targets([]).splitlines()
    assert len(lines) == len(report.TARGETS)
    assert all(line.startswith('SKIP') and 'not measured' in line
               for line in lines)


@pytest.mark.parametrize('scenario, tool, changes, target', [
    (CHANGED, DH, {'wall': 63.0}, 'faster than dh-virtualenv'),
    (CHANGED, FPM, {'wall': 27.0}, 'faster than fpm'),
    (CHANGED, FLOOR, {'wall': 3.0, 'parts': {DPKG_DEB_SAME_TREE: 1.2}},
     'within 2.5 x the floor'),
    (UNCHANGED, DH, {'wall': 49.0}, 'unchanged'),
    (COLD, DH, {'wall': 60.0}, '0.3 x'),
    (COLD, GIFTWRAP, {'wall': 17.0, 'peak_kib': 80 * 1024}, 'eight projects'),
    (CHANGED, GIFTWRAP, {'wall': 8.0, 'parts': {PACKAGE: 1.9}},
     'packaging stage'),
])
def test_each_target_fails(scenario, tool, changes, target):
    """Each target fails alone when its one ratio crosses the line."""
    lines = report.targets(replaced(passing(), scenario, tool, **changes))
    failed = [line for line in lines.splitlines() if line.startswith('FAIL')]
    assert len(failed) == 1 and target in failed[0], lines


def test_memory_and_dask_targets_fail():
    rows = [r for r in passing() if r.projects == 1] + [
        Row(COLD, GIFTWRAP, 8, wall=45.0, peak_kib=250 * 1024),
        Row(COLD, DASK, 8, wall=60.0)]
    failed = [line for line in report.targets(rows).splitlines()
              if line.startswith('FAIL')]
    assert len(failed) == 2
    assert '250 MB' in failed[0] and '1.33 x' in failed[1]


def test_the_issue_thresholds_are_inclusive():
    """"Within 2.5x", "<= 0.3x", "<= 1.5x": the limit itself passes."""
    rows = replaced(passing(), CHANGED, FLOOR, wall=4.0,
                    parts={DPKG_DEB: 0.5, DPKG_DEB_SAME_TREE: 1.0})
    rows = replaced(rows, CHANGED, GIFTWRAP, wall=10.0, parts={PACKAGE: 1.5})
    rows = replaced(rows, COLD, GIFTWRAP, wall=3.0)
    rows = replaced(rows, COLD, DH, wall=10.0)
    text = report.targets(rows)
    assert 'PASS  changed commit: giftwrap within 2.5 x the floor' in text
    assert 'PASS  cold: giftwrap <= 0.3 x' in text
    assert 'PASS  packaging stage <= 1.5 x dpkg-deb on the same tree ' \
           '(changed commit): 1.50 s / 1.00 s = 1.50 x' in text


def test_packaging_target_needs_both_times():
    rows = replaced(passing(), CHANGED, GIFTWRAP, parts={})
    line = report.targets(rows).splitlines()[7]
    assert line.startswith('SKIP  packaging stage')


def test_median_of_repeats():
    rows = [Row(CHANGED, FLOOR, wall=w, cpu=c, peak_kib=k, parts=p)
            for w, c, k, p in ((5.0, 4.0, 10, {DPKG_DEB: 1.0}),
                               (3.0, 9.0, 30, {DPKG_DEB: 3.0}),
                               (4.0, 6.0, 20, {}))]
    middle = report.median(rows)
    assert (middle.wall, middle.cpu, middle.peak_kib) == (4.0, 6.0, 20)
    assert middle.parts == {DPKG_DEB: 2.0}
    assert (middle.scenario, middle.tool) == (CHANGED, FLOOR)


def test_median_of_skipped_rows_stays_skipped():
    row = report.median([Row(COLD, FLOOR, note='skipped: x')] * 2)
    assert row.wall is None and row.note == 'skipped: x'


def test_table_says_median_and_shows_parts():
    text = report.table(passing(), repeat=3)
    assert text.splitlines()[0] == 'median of 3 builds per keystone row'
    assert '  dpkg-deb 0.60 s, dpkg-deb, with byte-code 1.20 s' in text
    assert '  package 1.50 s' in text
    two = report.median([Row(CHANGED, GIFTWRAP, wall=1.0, parts={
        PACKAGE: 1.5, report.PACKAGE_DPKG_DEB: 0.5})])
    assert '  package 1.50 s, its dpkg-deb 0.50 s' in report.table([two])
    assert 'median' not in report.table(passing())


def test_packaging_seconds_of_a_log():
    assert report.packaging_seconds(LOG) == 1.91
    assert report.packaging_seconds(LOG.replace('1.91', '12.50') + LOG
                                    .replace('1.91', '2.25')) == 2.25
    assert report.packaging_seconds('== virtualenv: 4.74 s\n') is None


def test_command_seconds_of_a_log():
    text = ('$ /usr/bin/dpkg-query -W -- libffi-dev\nx\n[exit status 0, 0.01 s]\n'
            + LOG + '$ /usr/bin/dpkg-deb --nocheck --build -- c d\n'
            'dpkg-deb: building\n[exit status 0, 0.04 s]\n')
    assert report.command_seconds(text, 'dpkg-deb') == pytest.approx(0.85)
    assert report.command_seconds(text, 'dpkg-query') == pytest.approx(0.01)
    assert report.command_seconds(text, 'nfpm') == 0
    assert report.command_seconds(text, 'dpkg-deb', longest=True) == \
        pytest.approx(0.81)


def test_command_seconds_through_a_wrapper():
    text = ('$ /usr/bin/unshare --mount -- /w/bind-run /s /d /usr/bin/dpkg-deb'
            ' --build -- a b\n[exit status 0, 0.55 s]\n'
            '$ /usr/bin/dpkg-deb --nocheck --build -- c d\n'
            '[exit status 0, 0.05 s]\n')
    assert report.command_seconds(text, 'dpkg-deb') == pytest.approx(0.60)
    assert report.command_seconds(text, 'dpkg-deb', longest=True) == 0.55


def test_floor_closure_from_a_lock(tmp_path):
    lock = tmp_path / 'giftwrap.lock'
    lock.write_text(json.dumps({'projects': {'keystone': {
        'pins': {'oslo-config': {'name': 'oslo.config', 'version': '9.7.2'},
                 'pbr': {'name': 'pbr', 'version': '7.1.3'}},
        'build_tools': {'setuptools': '84.2.1'}}}}))
    closure = floor.closure_from_lock(lock, 'keystone')
    assert floor.constraints_text(closure.pins) == \
        'oslo.config==9.7.2\npbr==7.1.3\n'
    assert closure.build_tools == {'setuptools': '84.2.1'}
    with pytest.raises(SystemExit, match='lock of nova'):
        floor.closure_from_lock(lock, 'nova')


def build(tmp_path, compression='zstd') -> peers.Build:
    return peers.Build('keystone', '27.0.0+gabc1234', tmp_path / 'repo',
                       tmp_path / 'uc.txt', tmp_path / 'work',
                       tmp_path / 'cache', compression)


def test_fpm_argv_passes_the_index(tmp_path):
    fpm = peers.Fpm('/usr/local/bin/fpm', tmp_path / 'tools',
                    'https://index.example/simple',
                    ('file:///opt/pypi/simple', 'file:///opt/more/simple'))
    argv = peers.fpm_argv(build(tmp_path), fpm, tmp_path / 'req.txt',
                          tmp_path / 'out.deb')
    assert argv[:5] == ['/usr/local/bin/fpm', '-s', 'virtualenv', '-t', 'deb']
    pypi = argv.index('--virtualenv-pypi')
    assert argv[pypi + 1] == 'https://index.example/simple'
    assert argv[pypi + 2:pypi + 6] == [
        '--virtualenv-pypi-extra-url', 'file:///opt/pypi/simple',
        '--virtualenv-pypi-extra-url', 'file:///opt/more/simple']
    assert argv[argv.index('--deb-compression') + 1] == 'zst'
    assert argv[-2:] == ['--', str(tmp_path / 'req.txt')]
    plain = peers.fpm_argv(build(tmp_path, None), peers.Fpm('fpm'),
                           tmp_path / 'req.txt', tmp_path / 'out.deb')
    assert '--deb-compression' not in plain
    assert plain[plain.index('--virtualenv-pypi') + 1] == peers.PYPI


def test_fpm_path_puts_its_helpers_first(tmp_path):
    fpm = peers.Fpm('fpm', tmp_path / 'tools')
    env = peers.fpm_environment(build(tmp_path), fpm)
    assert env['PATH'] == f'{tmp_path / "tools"}:{peers.SYSTEM_PATH}'
    assert peers.Fpm('fpm').path == peers.SYSTEM_PATH


def test_fpm_missing_names_each_helper(tmp_path):
    tools = tmp_path / 'tools'
    tools.mkdir()
    note = peers.fpm_missing(peers.Fpm('fpm', tools))
    assert 'virtualenv-tools (pip install virtualenv-tools3)' in note
    for name in peers.FPM_TOOLS:
        (tools / name).write_text('#!/bin/sh\n')
        (tools / name).chmod(0o755)
    assert peers.fpm_missing(peers.Fpm('fpm', tools)) is None


def test_pip_indexes_from_config_and_environment():
    config = ("global.cert='/etc/ssl/certs/ca-certificates.crt'\n"
              "global.extra-index-url='file:///opt/pypi/simple "
              "file:///opt/pypi-more/simple'\n"
              "global.find-links='/opt/wheels'\n")
    assert peers.pip_indexes(config, {}) == (
        peers.PYPI, ('file:///opt/pypi/simple', 'file:///opt/pypi-more/simple'))
    assert peers.pip_indexes(
        config + "global.index-url='https://mirror/simple'\n",
        {'PIP_EXTRA_INDEX_URL': 'https://extra/simple'}) == (
        'https://mirror/simple', ('https://extra/simple',))
    assert peers.pip_indexes('', {'PIP_INDEX_URL': 'https://env/simple'}) \
        == ('https://env/simple', ())


def test_floor_tree_counts_hard_links_once(tmp_path):
    (tmp_path / 'a').write_bytes(b'x' * 100)
    (tmp_path / 'sub').mkdir()
    os.link(tmp_path / 'a', tmp_path / 'sub' / 'b')
    (tmp_path / 'c').symlink_to('a')
    (tmp_path / 'd').write_bytes(b'y' * 10)
    assert floor.tree_bytes(tmp_path) == 110


def test_floor_control_is_what_dpkg_deb_reads(tmp_path):
    """The minimal control file makes a package dpkg-deb can build."""
    tree = tmp_path / 'tree'
    (tree / 'DEBIAN').mkdir(parents=True)
    (tree / 'opt').mkdir()
    (tree / 'DEBIAN' / 'control').write_text(
        floor.control_text('openstack-keystone', '27.0.0+gabc1234-1'))
    deb = tmp_path / 'floor.deb'
    subprocess.run(['dpkg-deb', '-Zzstd', '--root-owner-group', '-b', '--',
                    str(tree), str(deb)], check=True, capture_output=True)
    assert report.deb_compression(deb) == 'zstd'


class Counting:
    """A builder whose Nth build takes N seconds."""

    tool = FLOOR

    def __init__(self):
        self.built = 0

    def build(self, scenario):
        self.built += 1
        return Row(scenario, self.tool, wall=float(self.built))


def test_repeated_builds_make_one_median_row_per_tool(capsys):
    import run
    commits = []
    builder = Counting()
    rows = run._repeated(CHANGED, (builder,), 3, commits.append)
    assert commits == [1, 2, 3] and builder.built == 3
    assert rows == [Row(CHANGED, FLOOR, wall=2.0)]
    assert capsys.readouterr().err.count('floor') == 3


def test_builders_of_a_repetition_alternate(capsys):
    import run
    order = []

    class Logged(Counting):
        def __init__(self, tool):
            super().__init__()
            self.tool = tool

        def build(self, scenario):
            order.append(self.tool)
            return super().build(scenario)

    rows = run._repeated(COLD, (Logged(GIFTWRAP), Logged(DASK)), 2)
    assert order == [GIFTWRAP, DASK, GIFTWRAP, DASK]
    assert [r.tool for r in rows] == [GIFTWRAP, DASK]


def test_repeat_must_be_positive(tmp_path, capsys):
    import run
    constraints = tmp_path / 'uc.txt'
    constraints.write_text('pbr===7.1.3\n')
    base = ['--constraints', str(constraints), '--work-dir', str(tmp_path)]
    assert run._arguments(base + ['--repeat', '3']).repeat == 3
    assert run._arguments(base).builder == 'dpkg-deb'
    with pytest.raises(SystemExit):
        run._arguments(base + ['--repeat', '0'])
    assert 'at least 1' in capsys.readouterr().err


def test_packaging_target_prefers_dpkg_deb_of_its_own_tree():
    """dpkg-deb of the tree giftwrap's package holds is the "same tree";
    the floor's byte-compiled tree stands in only where it is missing."""
    rows = replaced(passing(), CHANGED, FLOOR, wall=4.0,
                    parts={DPKG_DEB: 0.5, DPKG_DEB_SAME_TREE: 0.5})
    rows = replaced(rows, CHANGED, GIFTWRAP, wall=10.0, parts={
        PACKAGE: 0.9, report.DPKG_DEB_ITS_TREE: 0.6})
    assert 'PASS  packaging stage <= 1.5 x dpkg-deb on the same tree ' \
           '(changed commit): 0.90 s / 0.60 s = 1.50 x' in report.targets(rows)
    rows = replaced(rows, CHANGED, GIFTWRAP, wall=10.0, parts={PACKAGE: 0.9})
    assert 'FAIL  packaging stage <= 1.5 x dpkg-deb on the same tree ' \
           '(changed commit): 0.90 s / 0.50 s = 1.80 x' in report.targets(rows)


def test_trash_moves_aside_and_empties_at_the_end(tmp_path, monkeypatch):
    import trash
    monkeypatch.setattr(trash, '_root', None)
    tree, file = tmp_path / 'cache', tmp_path / 'old.deb'
    (tree / 'uv').mkdir(parents=True)
    file.write_bytes(b'deb')
    trash.discard(tmp_path / 'absent')  # nothing to do
    trash.use(tmp_path / 'trash')
    trash.discard(tree)
    trash.discard(file)
    assert not tree.exists() and not file.exists()
    assert len(list((tmp_path / 'trash').iterdir())) == 2
    trash.empty()
    assert not (tmp_path / 'trash').exists()
    monkeypatch.setattr(trash, '_root', None)  # no trash: removed outright
    tree.mkdir()
    trash.discard(tree)
    assert not tree.exists()

"""giftwrap's benchmark: the same project, the same pins, one .deb each.

Usage: ``python benchmarks/run.py [--quick | --dask] [--constraints FILE]
[--work-dir DIR] [--installer uv|pip] [--compression xz|zstd|gzip]
[--builder dpkg-deb|nfpm-deb] [--repeat N]``

Builds keystone 2025.1 (from its PyPI sdist, made a git repository) with
giftwrap, Debian's dh-virtualenv and ``fpm -s virtualenv`` (when on PATH)
in three scenarios: cold (empty caches), changed commit (one new commit,
caches warm) and unchanged (the same commit again), and the floor of a
changed commit (uv from a warm cache, then dpkg-deb: see floor.py), each
``--repeat`` times (the median is shown); then giftwrap alone on
manifests of 4 and 8 projects sharing most dependencies (cold, also
``--repeat`` times), and the
8 again with the dask executor on a scheduler and two workers of this host
(each dask build right after a local one of the 8, so that a noisy
machine's slow phases fall on both; ``--dask``: only those two).  Prints
wall time, CPU time (children included), giftwrap's own peak memory, the
ratios against giftwrap and the targets, PASS or FAIL.  ``--quick``: keystone
only, giftwrap and the floor only.  See benchmarks/README.rst.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # giftwrap from this checkout

import yaml  # noqa: E402

import floor  # noqa: E402
import peers  # noqa: E402
import projects  # noqa: E402
import report  # noqa: E402
import trash  # noqa: E402
from giftwrap import errors  # noqa: E402
from giftwrap.util.process import Runner, find_tool  # noqa: E402
from report import (CHANGED, COLD, DASK, DH, FLOOR, FPM,  # noqa: E402
                    GIFTWRAP, PACKAGE, PACKAGE_DPKG_DEB, UNCHANGED,
                    Row)
from tests import dask_cluster  # noqa: E402

CONSTRAINTS = (HERE.parent.parent / 'shared' / 'reference' / 'upper-constraints'
               / 'stable-2025.1.txt')
SCENARIOS = (COLD, CHANGED, UNCHANGED)
#: keystone's project log in giftwrap's log directory
KEYSTONE_LOG = f'{projects.KEYSTONE.project}.log'


def measure(action) -> tuple[float, float, object]:
    """Wall and CPU seconds of ``action`` (its children, finished, included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = action()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, result


class Giftwrap:
    """giftwrap building a manifest of ``sdists`` in its own directory."""

    def __init__(self, base: Path, sdists, files, options, tool=GIFTWRAP):
        self.base, self.sdists, self.options = base, sdists, options
        self.tool = tool
        trash.discard(base)
        self.repos = {s.project: base / 'repos' / s.project for s in sdists}
        for sdist in sdists:
            projects.make_repo(files[sdist.project], self.repos[sdist.project])
        self.manifest = base / 'giftwrap.yml'
        self.manifest.write_text(yaml.safe_dump(self._manifest(),
                                                sort_keys=False))

    def _manifest(self) -> dict:
        return {'settings': {
            'base_path': '/opt/bench', 'builders': [self.options.builder],
            'resolver': 'upper-constraints',
            'resolver_options': {'upper-constraints': {
                'url': str(self.options.constraints)}},
            'installer': self.options.installer, 'force_overwrite': True,
            'output_dir': 'output', **self._compression()},
            'projects': [{'name': s.project, 'giturl': str(self.repos[s.project]),
                          'gitref': 'master',
                          'version': f'{s.version}+g{{{{ project.commit_short }}}}-1'}
                         for s in self.sdists]}

    def _compression(self) -> dict:
        if self.options.compression is None:
            return {}
        return {'builder_options': {self.options.builder: {
            'compression': self.options.compression}}}

    def build(self, scenario: str, *extra: str) -> Row:
        if scenario == COLD:
            for name in ('cache', 'output'):
                trash.discard(self.base / name)
        rss = self.base / 'maxrss'
        argv = [sys.executable, str(HERE / 'giftwrap_child.py'), str(rss),
                'build', '-m', str(self.manifest),
                '--cache-dir', str(self.base / 'cache'),
                '--work-dir', str(self.base / 'work'), *extra]
        log = self.base / f'giftwrap-{scenario.replace(" ", "-")}.log'
        try:
            wall, cpu, _ = measure(
                lambda: Runner(log).run(argv, what='giftwrap'))
        except errors.CommandError:
            return Row(scenario, self.tool, len(self.sdists),
                       note=f'failed: giftwrap (see {log})')
        debs = sorted((self.base / 'output').glob('*.deb'),
                      key=lambda p: p.stat().st_mtime)
        logs = self._newest_logs()
        parts = self._parts(logs)
        if scenario == CHANGED and debs and parts:
            parts[report.DPKG_DEB_ITS_TREE] = self._dpkg_deb_again(debs[-1])
        return Row(scenario, self.tool, len(self.sdists), wall, cpu,
                   int(rss.read_text()), self._installer(logs),
                   report.deb_compression(debs[-1]) if debs else '?',
                   parts=parts)

    def _dpkg_deb_again(self, deb: Path) -> float:
        """Seconds of ``dpkg-deb -b`` (the floor's options) of the tree
        ``deb`` holds, its ``DEBIAN/`` included: dpkg-deb on the same tree
        as giftwrap's packaging stage (not part of giftwrap's time)."""
        tree, again = self.base / 'its-tree', self.base / 'its-tree.deb'
        trash.discard(tree)
        trash.discard(again)
        runner = Runner(self.base / 'its-tree.log')
        runner.run(['dpkg-deb', '-R', '--', str(deb), str(tree)],
                   what='dpkg-deb -R')
        started = time.monotonic()
        runner.run(['dpkg-deb', '-Zzstd', '--root-owner-group', '-b', '--',
                    str(tree), str(again)], what='dpkg-deb (its tree)')
        seconds = time.monotonic() - started
        trash.discard(tree)
        trash.discard(again)
        return seconds

    def _parts(self, logs: dict[str, str]) -> dict[str, float]:
        """keystone's packaging stage, and the dpkg-deb commands in it."""
        text = logs.get(KEYSTONE_LOG, '') if len(self.sdists) == 1 else ''
        package = report.packaging_seconds(text)
        if package is None:
            return {}
        # the tree's dpkg-deb: DEBIAN/'s alone runs beside it
        dpkg = report.command_seconds(text, 'dpkg-deb', longest=True)
        return {PACKAGE: package, **({PACKAGE_DPKG_DEB: dpkg} if dpkg else {})}

    def _newest_logs(self) -> dict[str, str]:
        """The project logs of giftwrap's newest run, by file name."""
        # with the dask executor the jobs' logs are copied home too
        runs = sorted((self.base / 'cache' / 'logs').iterdir(),
                      key=lambda p: p.stat().st_mtime)
        return {p.name: p.read_text(errors='replace')
                for p in sorted(runs[-1].glob('*.log'))}

    @staticmethod
    def _installer(logs: dict[str, str]) -> str:
        """The installer giftwrap ran, as its logs show (``-``: none, an
        unchanged build reuses its package)."""
        text = ''.join(logs.values())
        if 'uv pip install ' in text:
            return 'uv'
        return 'pip' if ' -m pip install ' in text else '-'

    @property
    def lock(self) -> Path:
        """giftwrap's lock of its newest build."""
        return self.base / 'output' / 'giftwrap.lock'

    def new_commit(self, number: int) -> str:
        return projects.new_commit(self.repos[projects.KEYSTONE.project], number)


class Peer:
    """dh-virtualenv or fpm building keystone from ``repo``."""

    def __init__(self, tool: str, base: Path, repo: Path, options, fpm=None):
        self.tool, self.base, self.repo = tool, base, repo
        self.options, self.fpm = options, fpm
        trash.discard(base)

    def build(self, scenario: str) -> Row:
        if scenario == COLD:
            trash.discard(self.base / 'cache')
        sdist = projects.KEYSTONE
        build = peers.Build(sdist.project,
                            f'{sdist.version}+g{projects.head_short(self.repo)}',
                            self.repo, self.options.constraints,
                            self.base / 'work', self.base / 'cache',
                            self.options.compression)
        runner = Runner(self.base / f'{scenario.replace(" ", "-")}.log')
        if self.tool == DH:
            wall, cpu, deb = measure(lambda: peers.dh_virtualenv(build, runner))
        else:
            wall, cpu, deb = measure(
                lambda: peers.fpm_virtualenv(build, runner, self.fpm))
        return Row(scenario, self.tool, 1, wall, cpu, None, 'pip',
                   report.deb_compression(deb))


class FloorBuild:
    """The floor of keystone's changed commit (see floor.py) beside
    ``ours``: a fresh clone of its repository (not measured), giftwrap's
    lock for the versions, and giftwrap's uv cache, warm by then."""

    tool = FLOOR

    def __init__(self, base: Path, ours: Giftwrap):
        self.base, self.ours = base, ours
        trash.discard(base)
        base.mkdir(parents=True)

    def build(self, scenario: str = CHANGED) -> Row:
        uv = find_tool('uv')
        if uv is None:
            return Row(scenario, FLOOR, note='skipped: uv is not installed '
                       '(pip install uv)')
        runner = Runner(self.base / 'floor.log')
        try:
            return self._build(scenario, uv, runner)
        except errors.CommandError as exc:
            return Row(scenario, FLOOR, note=f'failed: {exc.what} (see '
                       f'{runner.log_file})')

    def _build(self, scenario: str, uv: str, runner: Runner) -> Row:
        sdist = projects.KEYSTONE
        repo = self.ours.repos[sdist.project]
        checkout = self.base / 'src'
        trash.discard(checkout)
        runner.run(['git', 'clone', '--quiet', '--', str(repo),
                    str(checkout)], what='git clone')
        closure = floor.closure_from_lock(self.ours.lock, sdist.project)
        build = floor.Floor(
            uv, self.base, self.ours.base / 'cache' / 'uv',
            f'/opt/bench/{sdist.project}', f'openstack-{sdist.project}',
            f'{sdist.version}+g{projects.head_short(repo)}-1')
        parts: dict[str, float] = {}
        wall, cpu, deb = measure(
            lambda: build.build(checkout, closure, runner, parts))
        size = floor.tree_bytes(self.base / 'tree') / 1e6
        build.same_tree(runner, parts)  # not part of the floor's time
        compiled = floor.tree_bytes(self.base / 'tree') / 1e6
        return Row(scenario, FLOOR, 1, wall, cpu, None, 'uv',
                   report.deb_compression(deb), parts=parts,
                   note=f'a tree of {size:.0f} MB without byte-code; '
                        f'dpkg-deb of it with byte-code ({compiled:.0f} MB): '
                        f'{parts[report.DPKG_DEB_SAME_TREE]:.2f} s')


def _fpm(options) -> tuple[peers.Fpm | None, str]:
    """fpm with its helpers and pip's index, or None and what is
    missing."""
    fpm = find_tool('fpm')
    if fpm is None:
        return None, 'fpm is not on PATH (gem install fpm)'
    runner = Runner(options.work_dir / 'fpm-tools.log')
    index, extra = peers.configured_indexes(runner)
    tools = peers.install_fpm_tools(options.work_dir / 'fpm-tools', runner)
    found = peers.Fpm(fpm, tools, index, extra)
    missing = peers.fpm_missing(found)
    if missing:
        return None, (f'{missing} (installing them failed: see '
                      f'{runner.log_file})')
    return found, ''


def _peers(options, repo: Path) -> tuple[list[Peer], list[Row]]:
    """The peers to run, and a row saying why each other one is skipped."""
    if options.quick:
        return [], []
    chosen, skipped = [], []
    missing = peers.missing_dh_packages(Runner())
    if missing and os.geteuid() == 0:
        peers.install_dh_virtualenv(Runner(options.work_dir / 'apt.log'))
        missing = peers.missing_dh_packages(Runner())
    if missing:
        skipped.append(Row(COLD, DH, note='skipped: not installed (apt-get '
                           'install ' + ' '.join(missing) + ', as root)'))
    else:
        chosen.append(Peer(DH, options.work_dir / 'dh-virtualenv', repo,
                           options))
    fpm, missing_fpm = _fpm(options)
    if fpm is None:
        skipped.append(Row(COLD, FPM, note=f'skipped: {missing_fpm}'))
    else:
        chosen.append(Peer(FPM, options.work_dir / 'fpm', repo, options, fpm))
    return chosen, skipped


def run(options) -> list[Row]:
    if options.dask:
        return run_dask(options)
    files = projects.download(projects.selection(1 if options.quick else 8),
                              options.work_dir / 'sdists', Runner())
    ours = Giftwrap(options.work_dir / 'giftwrap-1', projects.selection(1),
                    files, options)
    others, skipped = _peers(options, ours.repos[projects.KEYSTONE.project])
    lowest = FloorBuild(options.work_dir / 'floor', ours)
    rows = []
    for scenario in SCENARIOS:
        # the floor right after giftwrap, on the same new commit
        rows += _repeated(scenario, (ours, *others, lowest)
                          if scenario == CHANGED else (ours, *others),
                          options.repeat,
                          ours.new_commit if scenario == CHANGED else None)
    for count in () if options.quick else (4, 8):
        many = _local(options, files, count)
        # repeated too: their ratio to keystone's cold build is a target;
        # the dask builds alternate with the local eight-project ones, so
        # that both see the same phases of a noisy machine
        rows += _repeated(COLD, (many, _dask(options, files))
                          if count == 8 else (many,), options.repeat)
    return rows + skipped


def _repeated(scenario: str, builders, repeat: int, change=None
              ) -> list[Row]:
    """Each builder's row of ``scenario``: the median of ``repeat`` builds
    (a new commit by ``change`` before each, when given)."""
    measured = collections.defaultdict(list)
    for number in range(1, repeat + 1):
        if change is not None:
            change(number)
        for builder in builders:
            measured[builder.tool].append(builder.build(scenario))
            _progress(measured[builder.tool][-1])
    return [report.median(found) for found in measured.values()]


def run_dask(options) -> list[Row]:
    """Eight projects, cold: the local executor and the dask one, in
    turn."""
    files = projects.download(projects.selection(8),
                              options.work_dir / 'sdists', Runner())
    return _repeated(COLD, (_local(options, files, 8), _dask(options, files)),
                     options.repeat)


def _local(options, files, count: int) -> Giftwrap:
    """``count`` projects with the local executor (one work directory per
    count: the full run's and ``--dask``'s eight share it)."""
    return Giftwrap(options.work_dir / f'giftwrap-{count}',
                    projects.selection(count), files, options)


def _dask(options, files) -> 'DaskGiftwrap':
    return DaskGiftwrap(options.work_dir / 'giftwrap-dask-8',
                        projects.selection(8), files, options, tool=DASK)


class DaskGiftwrap(Giftwrap):
    """The eight projects on one scheduler and two workers of this host
    (``--nthreads 2 --resources build=1`` each: two jobs at once, as
    ``-j`` on two cores), sharing one cache directory as the local
    executor's two jobs do (the row compares executors, not one cold cache
    with two).  Each build starts a new cluster with an empty cache;
    starting it is not measured."""

    def build(self, scenario: str, *extra: str) -> Row:
        cluster = self.base / 'cluster'
        trash.discard(cluster)
        with dask_cluster.cluster(cluster, workers=2,
                                  shared_cache=True) as running:
            return super().build(scenario, '--executor', 'dask',
                                 '--scheduler', running.address, *extra)


def _progress(row: Row) -> None:
    took = row.note if row.wall is None else f'{row.wall:.1f} s'
    print(f'.. {row.tool} {row.scenario} ({row.projects} projects): '
          f'{took}', file=sys.stderr, flush=True)


def _arguments(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='keystone only, giftwrap only (a smoke test)')
    parser.add_argument('--dask', action='store_true',
                        help='only eight projects, cold, with the local and '
                             'the dask executor')
    parser.add_argument('--constraints', type=Path, default=CONSTRAINTS,
                        help='upper-constraints file (default: %(default)s)')
    parser.add_argument('--work-dir', type=Path, default=Path(
        tempfile.gettempdir()) / 'giftwrap-benchmark',
        help='scratch space, kept between runs (default: %(default)s)')
    parser.add_argument('--installer', choices=('uv', 'pip'), default='uv',
                        help="giftwrap's installer (default: %(default)s)")
    parser.add_argument('--compression', choices=('xz', 'zstd', 'gzip'),
                        help="every .deb's compression (default: each "
                             "tool's own)")
    parser.add_argument('--builder', choices=('dpkg-deb', 'nfpm-deb'),
                        default='dpkg-deb',
                        help="giftwrap's .deb builder (default: %(default)s, "
                             "as the floor's packaging)")
    parser.add_argument('--repeat', type=_positive, default=1, metavar='N',
                        help="build each keystone scenario, the floor, the "
                             "4- and 8-project builds and the dask one N "
                             "times and show the median (default: "
                             "%(default)s)")
    options = parser.parse_args(argv)
    options.constraints = options.constraints.resolve()
    options.work_dir = options.work_dir.resolve()
    if not options.constraints.is_file():
        parser.error(f'no constraints file {options.constraints}')
    return options


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a whole number of at least 1')
    return number


def main(argv=None) -> int:
    options = _arguments(argv)
    options.work_dir.mkdir(parents=True, exist_ok=True)
    trash.use(options.work_dir / 'trash')
    try:
        rows = run(options)
    finally:
        trash.empty()
    print(f'giftwrap benchmark: keystone {projects.KEYSTONE.version} with '
          f'{options.constraints.name}, {os.cpu_count()} cores')
    print(report.table(rows, options.repeat))
    print()
    print(report.targets(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())

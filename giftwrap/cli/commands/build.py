"""``giftwrap build``: build the manifest's projects (or show the plan)."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from pathlib import Path

from cliff import lister

from giftwrap import errors
from giftwrap.plan import planner as plan
from giftwrap.trust import lockfile
from giftwrap.cli.commands import QuickHelp, add_interpreter_option
from giftwrap.cli.commands import output

#: The summary's columns; a table folds the last three away (see
#: :class:`giftwrap.cli.commands.output.Summary`).
COLUMNS = ('Project', 'Builder', 'Status', 'Artifact', 'Message',
           *output.DETAIL_COLUMNS)

LOG = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    found = os.environ.get('GIFTWRAP_CACHE_DIR')
    if found:
        return Path(found)
    base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(base) / 'giftwrap'


#: Command-line options handed to the executor (checked against the
#: options it declares: ``local`` takes none).
EXECUTOR_OPTIONS = ('scheduler', 'artifact_store', 'tls_ca_file', 'tls_cert',
                    'tls_key')


def add_executor_options(parser) -> None:
    group = parser.add_argument_group('executor', 'where the jobs run (see '
                                      'giftwrap list-executors)')
    group.add_argument('--executor', default='local', metavar='NAME',
                       help='the executor (default: %(default)s, this '
                            'machine, -j jobs at a time)')
    group.add_argument('--scheduler', metavar='URL',
                       help='the Dask scheduler: tls://HOST:PORT, or '
                            'tcp://HOST:PORT on a trusted network')
    group.add_argument('--artifact-store', metavar='URL',
                       help='workers write artifacts there (an fsspec URL: '
                            'file://, s3://...) instead of keeping them '
                            'until this client pulls them')
    group.add_argument('--tls-ca-file', metavar='PEM',
                       help='the CA of the scheduler\'s certificate')
    group.add_argument('--tls-cert', metavar='PEM',
                       help='this client\'s certificate')
    group.add_argument('--tls-key', metavar='PEM',
                       help='this client\'s private key')


def _words(value: str | None) -> list[str]:
    return [w.strip() for w in (value or '').split(',') if w.strip()]


def _add_wheelhouse_option(parser) -> None:
    parser.add_argument('--wheelhouse', metavar='DIR', action='append',
                        default=[],
                        help='also install from this directory of wheels '
                             'and sdists (made by giftwrap fetch '
                             '--wheelhouse); repeatable')


class _Run(QuickHelp, output.Summary, lister.Lister):
    """Options and running shared by ``build`` and ``lock``."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('-m', '--manifest', required=True,
                            help='the manifest file')
        parser.add_argument('-v', '--version',
                            help='the release version (replaces settings.version)')
        parser.add_argument('-p', '--projects', metavar='NAME[,...]',
                            help='only these projects')
        parser.add_argument('-s', '--synchronous', action='store_true',
                            help='one project at a time')
        parser.add_argument('-j', '--jobs', type=int, default=os.cpu_count(),
                            help='projects worked on at once (default: cores)')
        parser.add_argument('-o', '--output-dir',
                            help='where artifacts and giftwrap.lock go (default: '
                                 'the manifest\'s output_dir, else ./output)')
        parser.add_argument('--cache-dir', default=str(default_cache_dir()),
                            help='caches and logs (default: %(default)s)')
        parser.add_argument('--work-dir',
                            help='scratch space (default: inside the cache dir, '
                                 'removed afterwards)')
        parser.add_argument('--keep-work', action='store_true',
                            help='keep the work directory for inspection')
        parser.add_argument('--offline', action='store_true',
                            help='use only cached answers from the network')
        add_interpreter_option(parser)
        add_executor_options(parser)
        return parser

    def run(self, parsed_args):
        self.exit_status = 0
        result = super().run(parsed_args)
        return self.exit_status or result

    def _plan(self, args, types=(), output_dir=None):
        return plan.make(args.manifest, version=args.version, types=types,
                         projects=_words(args.projects),
                         output_dir=output_dir or args.output_dir,
                         trusted=args.interpreter)

    def _request(self, args):
        from giftwrap.run import session
        return session.Request(
            cache_dir=Path(args.cache_dir).resolve(),
            work_dir=Path(args.work_dir).resolve() if args.work_dir else None,
            jobs=args.jobs or 1, synchronous=args.synchronous,
            keep_work=args.keep_work, offline=args.offline,
            wheelhouses=self._wheelhouses(args),
            executor=args.executor,
            executor_options={k: getattr(args, k) for k in EXECUTOR_OPTIONS
                              if getattr(args, k, None)})

    @staticmethod
    def _wheelhouses(args) -> tuple[Path, ...]:
        from giftwrap.run import session
        return session.wheelhouse_dirs(getattr(args, 'wheelhouse', None) or ())

    def _execute(self, the_plan, args, **extra):
        from giftwrap.run import session  # the build machinery, only when building
        outcomes = session.run(the_plan, self._request(args), self._progress(),
                               **extra)
        return self._rows(outcomes)

    def _rows(self, outcomes):
        from giftwrap.run import session
        self.exit_status = session.exit_status(outcomes)
        columns = COLUMNS
        rows = [(o.project, o.builder, o.status, o.artifact, o.message,
                 o.details, o.hint, o.log) for o in outcomes]
        if any(o.worker for o in outcomes):  # an executor with workers
            columns += ('Worker',)
            rows = [(*r, o.worker) for r, o in zip(rows, outcomes)]
        return columns, rows

    def _progress(self):
        lock = threading.Lock()
        quiet = self.app_args.verbose_level == 0

        def show(project: str, stage: str) -> None:
            if quiet:
                return
            with lock:
                self.app.stderr.write(f'[{project}] {stage}\n')
                self.app.stderr.flush()
        return show


class Build(_Run):
    """Build packages of the manifest's projects; prints a summary table.

    A failed project's row says what failed, in which stage, and where its
    log is; the failing command's output and a hint follow the table (on
    stderr), or are the Details and Hint fields of -f json.
    """

    examples = (
        ('build every project of the manifest for release 2025.1',
         'giftwrap build -m manifest.yml -v 2025.1'),
        ('only nova, as .deb files, then install them on a clean image',
         'giftwrap build -m manifest.yml -p nova -t nfpm-deb --verify '
         '--verify-image debian:bookworm'),
        ('the summary as JSON (failures carry Details, Hint and Log)',
         'giftwrap build -m manifest.yml -f json'))

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('-t', '--type', metavar='BUILDER[,...]',
                            help='builders to use instead of the manifest\'s '
                                 '("package" and "docker" as in 2014)')
        parser.add_argument('--lock', metavar='FILE',
                            help='rebuild the commits and pins of this lock '
                                 'file (pip hash-checking mode, no resolver)')
        parser.add_argument('--dry-run', action='store_true',
                            help='show what would be built, without cloning')
        parser.add_argument('--check-reproducible', action='store_true',
                            help='build everything a second time, elsewhere, '
                                 'from the lock just written, and report the '
                                 'first difference of each artifact')
        parser.add_argument('--verify', action='store_true',
                            help='then install each package on a clean '
                                 'image and run its smoke commands (as '
                                 'giftwrap verify); a failure fails the build')
        from giftwrap.cli.commands import verify
        verify.add_options(parser, 'verify-')
        _add_wheelhouse_option(parser)
        return parser

    def take_action(self, parsed_args):
        if parsed_args.verify and parsed_args.offline:
            raise errors.GiftwrapError(
                '--verify cannot run with --offline',
                where='giftwrap build',
                hint='verifying installs the package with the target\'s '
                     'package manager, which needs its archive: build '
                     'with --offline, then run giftwrap verify where the '
                     'archive can be reached')
        the_plan = self._plan(parsed_args, _words(parsed_args.type))
        if parsed_args.verify and not parsed_args.dry_run:
            from giftwrap.cli.commands import verify
            verify.check_plan(the_plan, verify.options(parsed_args, 'verify-'))
        from giftwrap.run import session
        request = self._request(parsed_args)
        extra = {}
        if parsed_args.lock:  # checked by --dry-run too
            lock_path = Path(parsed_args.lock).resolve()
            extra = {'lock': lockfile.read(lock_path), 'lock_path': lock_path}
            session.check_wheelhouses(request, extra['lock'], lock_path)
        if parsed_args.dry_run:
            return self._dry_run(the_plan)
        outcomes = session.run(the_plan, request, self._progress(), **extra)
        if parsed_args.check_reproducible and \
                not session.exit_status(outcomes):
            outcomes = session.check_reproducible(
                the_plan, request, outcomes, lambda out: self._plan(
                    parsed_args, _words(parsed_args.type), output_dir=out),
                self._progress())
        columns, rows = self._rows(outcomes)
        if parsed_args.verify:
            from giftwrap.cli.commands import verify
            width = len(columns)
            rows = rows + [(*r, *[''] * (width - len(r))) for r in
                           verify.after_build(self, the_plan, parsed_args,
                                              rows)]
        return columns, rows

    def _dry_run(self, the_plan):
        columns = ('Project', 'Package', 'Deb version', 'Rpm version',
                   'Rpm release', 'Install path', 'Git URL', 'Git ref',
                   'Resolver', 'Builders')
        rows = []
        for pp in the_plan.projects:
            p = dataclasses.replace(
                the_plan.manifest.render(pp.project.name, display=True),
                builders=pp.project.builders)
            rows.append((p.name, p.package_name, p.package_version.deb,
                         p.package_version.upstream, p.package_version.release,
                         str(p.install_path), p.giturl, p.gitref, p.resolver,
                         output.ListColumn(p.builders)))
        return columns, rows


class Lock(_Run):
    """Resolve every project's pins and write giftwrap.lock, building nothing."""

    examples = (
        ('lock every project, then build exactly what was locked',
         'giftwrap lock -m manifest.yml -o out\n'
         '  giftwrap build -m manifest.yml --lock out/giftwrap.lock'),)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--lock-file', metavar='FILE',
                            help='the lock to write (default: giftwrap.lock in '
                                 'the output directory)')
        self.add_wheelhouse(parser)
        return parser

    add_wheelhouse = staticmethod(_add_wheelhouse_option)

    def take_action(self, parsed_args):
        the_plan = self._plan(parsed_args)
        return self._execute(the_plan, parsed_args, lock_only=True,
                             lock_out=self._lock_out(parsed_args))

    @staticmethod
    def _lock_out(args) -> Path | None:
        return Path(args.lock_file).resolve() if args.lock_file else None


class Fetch(Lock):
    """Prepare an offline build: update the git mirrors, lock, and download
    every distribution the build will install."""

    examples = (('fill the cache for giftwrap build --offline on this machine',
                 'giftwrap fetch -m release.yml'),
                ('a wheelhouse and lock to carry to an air-gapped machine',
                 'giftwrap fetch -m release.yml --wheelhouse /media/usb/wheels'))

    @staticmethod
    def add_wheelhouse(parser) -> None:
        parser.add_argument('--wheelhouse', metavar='DIR',
                            help='also copy the locked files (and the lock) '
                                 'into DIR, to carry to another machine '
                                 '(default: only the cache\'s wheelhouse)')

    def take_action(self, parsed_args):
        from giftwrap.run import session
        if parsed_args.offline:
            raise errors.GiftwrapError(
                'giftwrap fetch cannot run with --offline', where='--offline',
                hint='fetch prepares an offline build: run it with the '
                     'network, then giftwrap build --offline')
        dest = Path(parsed_args.wheelhouse).resolve() \
            if parsed_args.wheelhouse else None
        the_plan = self._plan(parsed_args)
        columns, rows = self._execute(
            the_plan, parsed_args, lock_only=True, fetch=True,
            lock_out=self._lock_out(parsed_args))
        if dest is None or self.exit_status:
            return columns, rows
        session.export_wheelhouse(the_plan,
                                  self._written_locks(the_plan, parsed_args),
                                  Path(parsed_args.cache_dir).resolve(), dest)
        return columns, [(*r[:4], f'{r[4]}; files in {dest}'.lstrip('; '))
                         for r in rows]

    @staticmethod
    def _wheelhouses(args) -> tuple[Path, ...]:
        return ()  # --wheelhouse is where fetch copies to

    def _written_locks(self, the_plan, args) -> list[Path]:
        out = self._lock_out(args)
        return [out] if out else sorted({
            pp.project.output_dir / lockfile.FILENAME
            for pp in the_plan.projects})

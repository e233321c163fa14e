"""``giftwrap verify``: install built packages on clean images and smoke them."""

from __future__ import annotations

import argparse
from pathlib import Path

from cliff import lister

from giftwrap.run import verify
from giftwrap.util import containers as engines
from giftwrap.cli.commands import QuickHelp
from giftwrap.cli.commands import output


def add_options(parser: argparse.ArgumentParser, prefix: str = '') -> None:
    """The image and engine options, for ``verify`` and ``build --verify``
    (there as ``--verify-image`` ...)."""
    parser.add_argument(f'--{prefix}image', metavar='IMAGE',
                        help='a clean image for .deb files that no build '
                             'target names one for')
    parser.add_argument(f'--{prefix}rpm-image', metavar='IMAGE',
                        help='likewise for .rpm files (without one they '
                             'are "not verified")')
    parser.add_argument(f'--{prefix}engine', choices=tuple(engines.ENGINES),
                        help='the container engine (default: the target\'s, '
                             'else the first installed and usable)')
    parser.add_argument(f'--{prefix}isolation',
                        choices=('chroot', 'oci', 'rootless'),
                        help='podman\'s or buildah\'s --isolation')
    parser.add_argument(f'--{prefix}timeout', type=float, default=600,
                        metavar='SECONDS',
                        help='how long each install step and smoke command '
                             'may take (default: %(default)s)')


def options(args: argparse.Namespace, prefix: str = '') -> verify.Options:
    """:class:`giftwrap.run.verify.Options` from :func:`add_options`' values."""
    prefix = prefix.replace('-', '_')

    def get(name):
        return getattr(args, prefix + name)
    return verify.Options(image=get('image'), rpm_image=get('rpm_image'),
                          engine=get('engine'), isolation=get('isolation'),
                          timeout=get('timeout'))


class Verify(QuickHelp, output.Summary, lister.Lister):
    """Install each package of an output directory on a clean image and
    run the project's smoke commands."""

    examples = (('install the .deb files on Debian and run the smoke '
                 'commands', 'giftwrap verify out -m manifest.yml --image '
                 'debian:bookworm'),)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('output_dir', metavar='OUTPUT_DIR',
                            help='the build\'s output directory (only read)')
        parser.add_argument('-m', '--manifest',
                            help='the manifest that built them: its smoke '
                                 'commands and targets (without it, packages '
                                 'are only installed)')
        parser.add_argument('-v', '--version',
                            help='the release version the build was given '
                                 '(replaces settings.version)')
        add_options(parser)
        return parser

    def run(self, parsed_args):
        self.exit_status = 0
        result = super().run(parsed_args)
        return self.exit_status or result

    def take_action(self, parsed_args):
        loaded = None
        if parsed_args.manifest:
            from giftwrap.manifest import loader as manifest
            loaded = manifest.load(parsed_args.manifest,
                                   version=parsed_args.version)
        output_dir = Path(parsed_args.output_dir)
        chosen = options(parsed_args)
        checks = verify.plan(verify.find(output_dir), chosen, loaded,
                             verify.read_lock(output_dir))
        outcomes = verify.run(checks, progress=self._progress(),
                              timeout=chosen.timeout)
        error = verify.summary_error(outcomes)
        if error is not None:
            self.exit_status = error.exit_code
        return verify.COLUMNS, [_row(o) for o in outcomes]

    def _progress(self):
        quiet = self.app_args.verbose_level == 0

        def show(artifact: str, stage: str) -> None:
            if not quiet:
                self.app.stderr.write(f'[{artifact}] {stage}\n')
                self.app.stderr.flush()
        return show


def _row(outcome: verify.Outcome) -> tuple:
    row = outcome.row()
    return (*row[:4], output.ListColumn(row[4]), *row[5:])


# -- build --verify ---------------------------------------------------------

#: Build statuses whose artifact is there to verify.
_BUILT = ('built', 'reused', 'reproducible')


def check_plan(the_plan, chosen: verify.Options) -> None:
    """Before building: every .deb will have an image, the engine exists."""
    verify.check_build(the_plan, chosen, image_flag='--verify-image')


def after_build(command: lister.Lister, the_plan, args, rows) -> list[tuple]:
    """Verify the packages a build made; rows for its summary table.

    A failure sets the command's exit status.
    """
    artifacts = [verify.Artifact(Path(row[3]), row[0]) for row in rows
                 if row[2] in _BUILT and row[3].endswith(('.deb', '.rpm'))]
    if not artifacts:
        return []
    chosen = options(args, 'verify-')
    # output_dir is a setting (or -o): one for every project.
    out = the_plan.projects[0].project.output_dir
    checks = verify.plan(artifacts, chosen, the_plan.manifest,
                         verify.read_lock(out), image_flag='--verify-image')
    outcomes = verify.run(checks, progress=command._progress(),
                          timeout=chosen.timeout)
    error = verify.summary_error(outcomes)
    if error is not None:
        command.exit_status = command.exit_status or error.exit_code
    return [_build_row(artifact.key, o)
            for artifact, o in zip(artifacts, outcomes)]


def _build_row(key: str, outcome: verify.Outcome) -> tuple:
    """A row of the build's summary (its columns) for one verification;
    the packages the install added follow a passed row's message, and a
    failure's details."""
    added = (f'added {len(outcome.added)}: {" ".join(outcome.added)}'
             if outcome.added else '')
    message = (f'{outcome.image}: ' if outcome.image else '') + \
        outcome.message
    details = outcome.details
    if added and outcome.status == verify.FAILED:
        details = f'{details}\n{added}' if details else added
    elif added:
        message += f'\n  {added}'
    return (key, 'verify', outcome.status, str(outcome.artifact), message,
            details, outcome.hint, '')

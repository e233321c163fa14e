"""``giftwrap validate``: check a manifest and its drivers without building."""

from __future__ import annotations

from cliff import show

from giftwrap import errors
from giftwrap.plan import planner as plan
from giftwrap.cli.commands import QuickHelp, add_interpreter_option
from giftwrap.cli.commands import output

COLUMNS = ('Manifest', 'Valid', 'Projects', 'Builders', 'Resolvers')
#: A failure's record, with machine-readable formats only.
FAILED_COLUMNS = (*COLUMNS, 'Error', 'Kind', 'Where', 'Hint')


class Validate(QuickHelp, show.ShowOne):
    """Check a manifest, its templates and its drivers' options.

    A problem is reported as always (on stderr, with its exit status);
    with a machine-readable format (-f json, yaml...) the same record is
    also written to stdout, with Valid false and the error's fields.
    """

    examples = (('check a manifest before building it',
                 'giftwrap validate -m manifest.yml'),
                ('the same, for a CI job to read',
                 'giftwrap validate -m manifest.yml -f json'))

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('-m', '--manifest', required=True,
                            help='the manifest file')
        add_interpreter_option(parser)
        return parser

    def run(self, parsed_args):
        try:
            return super().run(parsed_args)
        except errors.GiftwrapError as exc:
            if parsed_args.formatter != 'table':  # a table: the error alone
                self.produce_output(parsed_args, FAILED_COLUMNS, (
                    parsed_args.manifest, False, output.ListColumn(()),
                    output.ListColumn(()), output.ListColumn(()), exc.what,
                    exc.kind, exc.where or '', exc.hint or ''))
            raise

    def take_action(self, parsed_args):
        build_plan = plan.make(parsed_args.manifest,
                               trusted=parsed_args.interpreter)
        projects = build_plan.projects
        return COLUMNS, (
            parsed_args.manifest, True,
            output.ListColumn([p.project.name for p in projects]),
            output.ListColumn(sorted({c.name for p in projects
                                      for c in p.builders})),
            output.ListColumn(sorted({p.resolver.name for p in projects})))

"""``giftwrap validate``: check a manifest and its drivers without building."""

from cliff import command

from giftwrap import plan
from giftwrap.commands import QuickHelp, add_interpreter_option


class Validate(QuickHelp, command.Command):
    """Check a manifest, its templates and its drivers' options."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('-m', '--manifest', required=True,
                            help='the manifest file')
        add_interpreter_option(parser)
        return parser

    def take_action(self, parsed_args):
        build_plan = plan.make(parsed_args.manifest,
                               trusted=parsed_args.interpreter)
        self.app.stdout.write(
            f'{parsed_args.manifest}: {len(build_plan.projects)} project(s), '
            'manifest and drivers are valid\n')
        return 0

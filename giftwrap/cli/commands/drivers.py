"""``giftwrap list-builders``, ``list-resolvers``, ``list-executors`` and
``show-builder``, ``show-resolver``, ``show-executor NAME``.

Each kind of driver is one entry-point namespace; a command here only
names it, so a new kind of driver is one small class per command.
"""

from __future__ import annotations

from cliff import columns, lister, show

from giftwrap import plugins as drivers
from giftwrap.cli.commands import QuickHelp


class _ListDrivers(QuickHelp, lister.Lister):
    namespace = ''

    def take_action(self, parsed_args):
        rows = [(d.name, d.summary, d.distribution)
                for d in drivers.describe(self.namespace)]
        return ('Name', 'Summary', 'Distribution'), rows


class ListBuilders(_ListDrivers):
    """List the installed builders (artifact formats)."""

    namespace = drivers.BUILDERS
    examples = (('the installed builders', 'giftwrap list-builders'),
                ('one of them, with its options',
                 'giftwrap show-builder nfpm-deb'))


class ListResolvers(_ListDrivers):
    """List the installed dependency resolvers."""

    namespace = drivers.RESOLVERS
    examples = (('the resolvers a manifest may name',
                 'giftwrap list-resolvers'),)


class OptionsColumn(columns.FormattableColumn):
    """A driver's options: a list of objects for machines; a line each
    (name, type, default, choices, help) in a table."""

    def human_readable(self) -> str:
        return '\n'.join(_option_line(o) for o in self._value)

    def machine_readable(self) -> list:
        return [dict(o) for o in self._value]


def _option_line(option: dict) -> str:
    facts = [option['type']]
    if option['default'] is not None:
        facts.append(f'default: {option["default"]!r}')
    if option['choices']:
        facts.append('one of: ' + ', '.join(map(str, option['choices'])))
    line = f'{option["name"]} ({"; ".join(facts)})'
    return f'{line}: {option["help"]}' if option['help'] else line


def _option(name: str, option: drivers.Option) -> dict:
    return {'name': name, 'type': option.type.__name__,
            'default': option.default, 'choices': list(option.choices),
            'help': option.help}


class _ShowDriver(QuickHelp, show.ShowOne):
    """Show one installed driver of ``namespace``; an unknown name is a
    driver error that lists the installed ones."""

    namespace = ''

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('name', metavar='NAME',
                            help=f'the {drivers.kind(self.namespace)}\'s '
                                 'name, as the list command shows it')
        return parser

    def take_action(self, parsed_args):
        found = drivers.show(self.namespace, parsed_args.name)
        return (('Name', 'Summary', 'Description', 'Distribution',
                 'Entry point', 'Options'),
                (found.name, found.summary, found.description,
                 found.distribution, found.entry_point,
                 OptionsColumn([_option(n, o) for n, o in found.options])))


class ShowBuilder(_ShowDriver):
    """Show a builder: its summary, distribution and builder_options."""

    namespace = drivers.BUILDERS
    examples = (('the options nfpm-deb accepts under builder_options',
                 'giftwrap show-builder nfpm-deb'),
                ('the same as JSON', 'giftwrap show-builder nfpm-deb -f json'))


class ShowResolver(_ShowDriver):
    """Show a resolver: its summary, distribution and resolver_options."""

    namespace = drivers.RESOLVERS
    examples = (('the options upper-constraints accepts under '
                 'resolver_options',
                 'giftwrap show-resolver upper-constraints'),)


class ShowExecutor(_ShowDriver):
    """Show an executor: its summary, distribution and options."""

    namespace = drivers.EXECUTORS
    examples = (('how the local executor runs the jobs',
                 'giftwrap show-executor local'),)


class ListExecutors(_ListDrivers):
    """List the installed executors (where a build's jobs run)."""

    namespace = drivers.EXECUTORS
    examples = (('where a build\'s jobs can run', 'giftwrap list-executors'),)

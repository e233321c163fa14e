"""``giftwrap list-builders``, ``list-resolvers`` and ``list-executors``."""

from cliff import lister

from giftwrap import drivers
from giftwrap.commands import QuickHelp


class _ListDrivers(QuickHelp, lister.Lister):
    namespace = ''

    def take_action(self, parsed_args):
        rows = [(d.name, d.summary, d.distribution)
                for d in drivers.describe(self.namespace)]
        return ('Name', 'Summary', 'Distribution'), rows


class ListBuilders(_ListDrivers):
    """List the installed builders (artifact formats)."""

    namespace = drivers.BUILDERS


class ListResolvers(_ListDrivers):
    """List the installed dependency resolvers."""

    namespace = drivers.RESOLVERS


class ListExecutors(_ListDrivers):
    """List the installed executors (where a build's jobs run)."""

    namespace = drivers.EXECUTORS

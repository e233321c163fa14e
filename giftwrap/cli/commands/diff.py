"""``giftwrap diff``: what changed between two lock files."""

from __future__ import annotations

import logging
from pathlib import Path

from cliff import lister

from giftwrap.trust import lockdiff, lockfile
from giftwrap.cli.commands import QuickHelp

LOG = logging.getLogger(__name__)


class Diff(QuickHelp, lister.Lister):
    """Show the commits and pins that changed between two lock files."""

    examples = (('what changed since the last release\'s lock',
                 'giftwrap diff 2025.1/giftwrap.lock out/giftwrap.lock'),)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('old', metavar='OLD.lock',
                            help='the earlier giftwrap.lock')
        parser.add_argument('new', metavar='NEW.lock',
                            help='the later giftwrap.lock')
        return parser

    def take_action(self, parsed_args):
        # shown, never passed to pip or git: old locks' values too
        old = lockfile.read(Path(parsed_args.old), check_values=False)
        new = lockfile.read(Path(parsed_args.new), check_values=False)
        changes = lockdiff.diff(old, new)
        if not changes:
            LOG.info('%s and %s lock the same commits and pins',
                     parsed_args.old, parsed_args.new)
        return lockdiff.COLUMNS, [c.row() for c in changes]

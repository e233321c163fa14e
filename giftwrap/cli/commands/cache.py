"""``giftwrap cache list`` and ``giftwrap cache prune``: a bounded cache."""

from __future__ import annotations

import time
from pathlib import Path

from cliff import lister

from giftwrap import errors
from giftwrap.util import cache
from giftwrap.cli.commands import QuickHelp
from giftwrap.cli.commands.build import default_cache_dir
from giftwrap.util.process import Runner


def _size(size: int) -> str:
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if size < 1024 or unit == 'GiB':
            return f'{size:.1f} {unit}' if unit != 'B' else f'{size} B'
        size /= 1024
    return ''  # not reached


def _date(stamp: float | None) -> str:
    return time.strftime('%Y-%m-%d %H:%M', time.localtime(stamp)) \
        if stamp else ''


class _CacheCommand(QuickHelp, lister.Lister):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--cache-dir', default=str(default_cache_dir()),
                            help='the cache (default: %(default)s)')
        parser.add_argument('--kind', action='append', metavar='KIND[,...]',
                            help='only these kinds (repeatable); one of: ' +
                                 ', '.join(cache.KINDS))
        return parser

    def _kinds(self, parsed_args):
        known = cache.KINDS
        names = [w.strip() for value in parsed_args.kind or ()
                 for w in value.split(',') if w.strip()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise errors.BuildError(
                f'no cache kind {", ".join(unknown)}', where='--kind',
                hint='the kinds are ' + ', '.join(known))
        return [known[n] for n in dict.fromkeys(names)] or list(known.values())


class CacheList(_CacheCommand):
    """Show what each kind of cached thing takes in the cache."""

    examples = (('the size of each kind, oldest entry first to go',
                 'giftwrap cache list'),
                ('the git mirrors only, as JSON',
                 'giftwrap cache list --kind git -f json'))

    def take_action(self, parsed_args):
        rows = cache.usage(Path(parsed_args.cache_dir).resolve(),
                           self._kinds(parsed_args))
        return (('Kind', 'Path', 'Size', 'Entries', 'Oldest'),
                [(u.kind, ', '.join(map(str, u.paths)), _size(u.size),
                  u.entries, _date(u.oldest)) for u in rows])


class CachePrune(_CacheCommand):
    """Remove cached things (older than an age); waits for running builds."""

    examples = (('what no build used for a month',
                 'giftwrap cache prune --older-than 30d'),
                ('logs and byte-code only',
                 'giftwrap cache prune --kind logs,bytecode'))

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--older-than', metavar='AGE',
                            help='only what is older than AGE (30d, 12h, '
                                 '2w); default: everything of those kinds')
        return parser

    def take_action(self, parsed_args):
        kinds = self._kinds(parsed_args)
        age = cache.parse_age(parsed_args.older_than) \
            if parsed_args.older_than else None
        done = cache.prune(Path(parsed_args.cache_dir).resolve(), kinds, age,
                           Runner())
        return (('Kind', 'Removed', 'Freed', 'Left', 'Size'),
                [(before.kind, before.entries - after.entries,
                  _size(max(0, before.size - after.size)), after.entries,
                  _size(after.size)) for before, after in done])

"""The ``giftwrap`` command: a cliff App whose commands are entry points.

Commands live in ``giftwrap/commands/`` and register under
``giftwrap.commands`` in setup.cfg, so other packages can add commands the
same way.  This module owns the one mapping from error classes to exit
statuses and decides when a traceback is shown (``--debug`` only).
"""

from __future__ import annotations

import argparse

import logging
import os
import signal
import sys

from cliff import app, commandmanager

import giftwrap
from giftwrap import errors
from giftwrap.cli.commands import HelpFormatter
from giftwrap.util.process import Runner

LOG = logging.getLogger(__name__)

_CONSOLE_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO}

#: What ``giftwrap`` (alone, or with --help) says it is.
DESCRIPTION = """\
Build pinned, versioned virtualenv packages (.deb, .rpm, container images)
of OpenStack and other Python projects, from git, as a manifest describes
them.

getting started:
  giftwrap validate -m manifest.yml         # check manifest and drivers
  giftwrap build -m manifest.yml --dry-run  # what would be built
  giftwrap build -m manifest.yml            # build; a summary at the end
  giftwrap help build                       # options and examples

Every listing takes -f json (or yaml, csv, value) for scripts."""

# Global options that take a value, so the command name can be found.
_VALUED_GLOBALS = ('--log-file',)


class GiftwrapApp(app.App):
    """Build pinned, versioned virtualenv packages of Python projects."""

    def __init__(self, stdin=None, stdout=None, stderr=None):
        super().__init__(
            description=DESCRIPTION,
            version=giftwrap.__version__,
            command_manager=commandmanager.CommandManager('giftwrap.commands'),
            deferred_help=True, stdin=stdin, stdout=stdout, stderr=stderr)
        self._error: BaseException | None = None

    def build_option_parser(self, description, version, argparse_kwargs=None):
        cliffs = super().build_option_parser(
            description, version,
            {'formatter_class': HelpFormatter, **(argparse_kwargs or {})})
        # The same options, in a parser that reads them only before the
        # command name (argparse copies a parent's actions).
        return _GlobalsFirstParser(
            prog=cliffs.prog, description=cliffs.description,
            formatter_class=HelpFormatter, add_help=False, parents=[cliffs])

    def run(self, argv):
        if not argv:
            argv = ['help']  # never wait for an interactive shell on stdin
        return super().run(argv)

    def run_subcommand(self, argv):
        self._error = None
        result = super().run_subcommand(argv)
        if isinstance(self._error, errors.GiftwrapError):
            return self._error.exit_code
        return result

    def clean_up(self, cmd, result, err):
        self._error = err

    def configure_logging(self):
        root = logging.getLogger('')
        for handler in list(root.handlers):  # a previous App in this process
            if getattr(handler, '_giftwrap', False):
                root.removeHandler(handler)
        before = set(root.handlers)
        super().configure_logging()
        for handler in set(root.handlers) - before:
            handler._giftwrap = True
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                    handler, logging.FileHandler):
                # The console shows warnings by default (the build command
                # prints its own progress); --verbose adds INFO, -vv DEBUG.
                handler.setLevel(_CONSOLE_LEVELS.get(
                    self.options.verbose_level, logging.DEBUG))
        # Third-party chatter is for --debug runs only.
        for noisy in ('stevedore', 'urllib3', 'dulwich'):
            logging.getLogger(noisy).setLevel(
                logging.DEBUG if self.options.verbose_level > 2 else
                logging.WARNING)


class _GlobalsFirstParser(argparse.ArgumentParser):
    """giftwrap's global options belong before the command name.

    cliff parses global options across the whole command line, so
    ``build -v 2025.1`` would be read as verbosity; everything after the
    command name is the command's.
    """

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        split = _command_index(args)
        options, rest = super().parse_known_args(args[:split], namespace)
        return options, rest + args[split:]


def _command_index(args: list[str]) -> int:
    """Index of the first word that is not a global option."""
    index = 0
    while index < len(args):
        word = args[index]
        if not word.startswith('-'):
            return index
        if word in _VALUED_GLOBALS:
            index += 1
        index += 1
    return len(args)


_signals: list[int] = []


def _terminate(signum, frame):
    # SIGTERM unwinds like Ctrl-C, so every ``finally`` cleans up.
    _signals.append(signum)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``giftwrap`` console script."""
    signal.signal(signal.SIGTERM, _terminate)
    argv = sys.argv[1:] if argv is None else argv
    try:
        result = GiftwrapApp().run(argv)
    except KeyboardInterrupt:
        result = errors.EXIT_SIGINT
    if result == errors.EXIT_SIGINT or _signals:
        Runner.terminate_all()
        result = (errors.EXIT_SIGTERM if signal.SIGTERM in _signals
                  else errors.EXIT_SIGINT)
        # Worker threads may still wait on a socket; their children are
        # stopped and the work directory is gone, so do not wait for them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(result)
    return result


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())

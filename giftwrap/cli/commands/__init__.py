"""giftwrap's commands, one module each, registered in setup.cfg."""

from __future__ import annotations

from cliff import _argparse


class HelpFormatter(_argparse.SmartHelpFormatter):
    """cliff's help formatter, keeping indented lines as they are.

    argparse re-wraps a description or epilog into one paragraph; an
    example's command line must stay on its own line, indented, to be
    copied.  Paragraphs whose lines are not indented are wrapped as usual.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split('\n\n'):
            lines = paragraph.splitlines()
            if any(line.startswith(' ') for line in lines):
                paragraphs.append('\n'.join(indent + line for line in lines))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return '\n\n'.join(paragraphs)


class QuickHelp:
    """Mixin: the command's examples as its epilog, no "provided by" line.

    cliff works out which distribution provides a command by scanning every
    installed distribution's files, on every run; giftwrap's own commands
    do not need it.
    """

    #: (what it does, the command line) pairs shown under "examples:"
    examples: tuple[tuple[str, str], ...] = ()

    def get_epilog(self) -> str:
        lines = [self._epilog] if self._epilog else []
        if self.examples:
            lines.append('examples:\n' + '\n'.join(
                f'  # {what}\n  {line}' for what, line in self.examples))
        return '\n\n'.join(lines)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.formatter_class = HelpFormatter
        return parser


def add_interpreter_option(parser) -> None:
    parser.add_argument(
        '--interpreter', metavar='PATH', action='append', default=[],
        help='trust this interpreter though no system package owns it (a '
             'pyenv build, say); the manifest\'s "python" may then name it '
             '(repeatable)')

"""giftwrap's commands, one module each, registered in setup.cfg."""


class QuickHelp:
    """Mixin: no "provided by" epilog.

    cliff works out which distribution provides a command by scanning every
    installed distribution's files, on every run; giftwrap's own commands
    do not need it.
    """

    def get_epilog(self) -> str:
        return self._epilog or ''


def add_interpreter_option(parser) -> None:
    parser.add_argument(
        '--interpreter', metavar='PATH', action='append', default=[],
        help='trust this interpreter though no system package owns it (a '
             'pyenv build, say); the manifest\'s "python" may then name it '
             '(repeatable)')

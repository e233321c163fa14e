"""giftwrap's commands, one module each, registered in setup.cfg."""


class QuickHelp:
    """Mixin: no "provided by" epilog.

    cliff works out which distribution provides a command by scanning every
    installed distribution's files, on every run; giftwrap's own commands
    do not need it.
    """

    def get_epilog(self) -> str:
        return self._epilog or ''

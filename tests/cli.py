"""Running giftwrap's commands from tests.

    from tests.cli import giftwrap

    status, stdout, stderr = giftwrap('build', '-m', str(manifest), '-f', 'json')

:func:`giftwrap` runs the cliff application in this process (as the console
script runs it), so a test sees the exact exit status and both streams.
"""

from __future__ import annotations

import io

from giftwrap.cli import app as shell


def giftwrap(*argv: str) -> tuple[int, str, str]:
    """``giftwrap ARGV``: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    status = shell.GiftwrapApp(stdout=out, stderr=err).run(list(argv))
    return status, out.getvalue(), err.getvalue()

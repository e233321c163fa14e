"""Plans of small manifests for unit tests, without asking the system.

The manifest's interpreter is real (it must exist); dpkg-query and the
interpreter's probe are played by a :class:`giftwrap.testing.RecordingRunner`,
so a test decides which package owns it and sees how often it was asked.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

from giftwrap import errors, testing
from giftwrap.api import Result
from giftwrap.plan import planner

#: an interpreter that exists here (the manifest's must)
PYTHON = os.path.realpath(sys.executable)


def system(owned: bool = True) -> testing.RecordingRunner:
    """Plays dpkg-query (a package owns every path, or none) and the
    interpreter's probe; there is no rpm."""

    def respond(call: testing.Call):
        argv = call.argv
        if argv[0] == 'dpkg-query':
            return (f'python3.11-minimal: {argv[-1]}\n' if owned else
                    Result(argv, 1, f'dpkg-query: no path found matching '
                                    f'pattern {argv[-1]}\n'))
        if argv[0] == 'rpm':
            raise errors.MissingToolError('rpm is not installed')
        assert argv[1:3] == ('-I', '-c'), argv  # the probe
        return json.dumps({'path': argv[0], 'version': '3.11.2',
                           'implementation': 'cpython',
                           'soabi': 'cpython-311-x86_64-linux-gnu',
                           'platform_machine': 'x86_64'}) + '\n'

    return testing.RecordingRunner(respond=respond)


def write(tmp_path: Path, text: str) -> str:
    """``text`` (dedented; ``PYTHON`` stands for :data:`PYTHON`) as
    ``tmp_path/manifest.yml``."""
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(text).replace('PYTHON', PYTHON))
    return str(path)


def make(tmp_path: Path, text: str, runner=None, **kw) -> planner.Plan:
    """The plan of the manifest ``text`` (see :func:`write`)."""
    return planner.make(write(tmp_path, text), runner=runner or system(), **kw)

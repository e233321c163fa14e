"""Shared fixtures: run the giftwrap App in-process and capture its output."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from giftwrap.cli import app as shell

REFERENCE = Path(__file__).resolve().parents[1].parent / 'shared' / 'reference'
if not REFERENCE.is_dir():  # the CI clone sits beside shared/ like the work tree
    REFERENCE = Path('/work/shared/reference')


@dataclasses.dataclass
class CliResult:
    status: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch, tmp_path):
    """Run ``giftwrap ARGS...`` in-process; returns a :class:`CliResult`."""
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache-home'))

    def run(*argv: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        app = shell.GiftwrapApp(stdout=out, stderr=err)
        # cliff logs errors to the console handler, which writes to stderr.
        status = app.run(list(argv))
        return CliResult(status, out.getvalue(), err.getvalue())
    return run


@pytest.fixture
def reference() -> Path:
    """../shared/reference: protocol notes, constraints, 2014 manifests."""
    if not REFERENCE.is_dir():
        pytest.skip('shared/reference is not beside this checkout')
    return REFERENCE

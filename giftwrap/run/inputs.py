"""The values one stage of a job hands the next, frozen.

A job passes these along explicitly; it keeps nothing of a build in its own
attributes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from giftwrap.fetch import patches
from giftwrap.fetch.checkout import Checkout
from giftwrap.package import description as package
from giftwrap.resolve.base import Pins
from giftwrap.trust import lockfile
from giftwrap.util.process import Runner
from giftwrap.venv import build as venv, syspython

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import Future

    from giftwrap.manifest.loader import Project
    from giftwrap.plan import targets
    from giftwrap.venv.interpreter import Interpreter


@dataclasses.dataclass(frozen=True)
class Source:
    """The checkout, patched, and the project rendered with its commit."""

    project: 'Project'
    checkout: Checkout
    applied: tuple[patches.Patch, ...]
    epoch: int


@dataclasses.dataclass(frozen=True)
class Variant:
    """Where one set of artifacts is built: this machine or a target.

    :ivar key: the name in the summary, lock and artifact index
        (``nova``, or ``nova@bookworm`` for a target).
    :ivar runner: runs the virtualenv stage (in the target's container).
    """

    target: 'targets.Target | None'
    key: str
    interpreter: 'Interpreter'
    runner: Runner
    output_dir: Path
    builders: tuple
    work: Path


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What the project is built from, once cloned and resolved."""

    project: 'Project'
    checkout: Checkout
    applied: tuple[patches.Patch, ...]
    pins: Pins
    changes: Mapping[str, object]
    locked: lockfile.Entry | None
    source_date_epoch: int


@dataclasses.dataclass(frozen=True)
class Built:
    """The staged virtualenv and everything packaging needs to know."""

    tree: object
    report: venv.InstallReport
    description: package.PackageDescription
    note: str
    #: distribution packages whose modules the virtualenv links
    system_python: tuple[syspython.SystemPackage, ...] = ()
    #: what every SBOM says of the virtualenv, being read beside the
    #: later stages (:func:`giftwrap.run.packaging.read_contents`)
    sbom: 'Future | None' = None

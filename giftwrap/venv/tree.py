"""What the virtualenv stage hands on: the install tree, staged under a root."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath
from typing import Mapping


@dataclasses.dataclass(frozen=True)
class StagedTree:
    """The built virtualenv, laid out as it will be installed.

    :ivar root: a directory standing for ``/``: the virtualenv is at
        ``root / install_path.relative_to('/')``.
    :ivar install_path: where the virtualenv lives on the target.
    :ivar config_files: installed paths (absolute, on the target) that are
        configuration files.
    :ivar native: whether any compiled code (ELF) is inside.
    :ivar installed: canonical name -> version of every distribution in
        the virtualenv.
    """

    root: Path
    install_path: PurePosixPath
    config_files: tuple[PurePosixPath, ...] = ()
    native: bool = False
    installed: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def venv(self) -> Path:
        """The virtualenv's directory inside ``root``."""
        return self.root / self.install_path.relative_to('/')

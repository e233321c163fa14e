"""What the virtualenv stage hands on: the install tree, staged under a root."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from giftwrap.venv.digests import Digests


@dataclasses.dataclass(frozen=True)
class StagedTree:
    """The built virtualenv, laid out as it will be installed.

    :ivar root: a directory standing for ``/``: the virtualenv is at
        ``root / install_path.relative_to('/')``.
    :ivar install_path: where the virtualenv lives on the target.
    :ivar config_files: installed paths (absolute, on the target) that are
        configuration files.
    :ivar native: whether any compiled code (ELF) is inside.
    :ivar elf_files: the ELF files the virtualenv stage found, relative to
        the virtualenv, sorted (empty: not known, every file is read).
    :ivar installed: canonical name -> version of every distribution in
        the virtualenv.
    :ivar digests: the staged files' md5, being computed since the tree
        was final (:meth:`md5`); None when no builder asked for them.
    """

    root: Path
    install_path: PurePosixPath
    config_files: tuple[PurePosixPath, ...] = ()
    native: bool = False
    elf_files: tuple[str, ...] = ()
    installed: Mapping[str, str] = dataclasses.field(default_factory=dict)
    digests: 'Digests | None' = dataclasses.field(default=None,
                                                  compare=False, repr=False)

    @property
    def venv(self) -> Path:
        """The virtualenv's directory inside ``root``."""
        return self.root / self.install_path.relative_to('/')

    def md5(self, path: str | Path, st: os.stat_result | None = None
            ) -> str | None:
        """The md5 (hex) of the staged regular file at ``path``, if it was
        hashed ahead and is unchanged since (waiting for the hashing to
        end); None otherwise: the caller hashes it (API 1.2).

        :param st: the file's :func:`os.lstat`, if the caller has it
            already (one system call fewer per file); else it is taken
            here.  The md5 is answered only if its device, inode, size and
            modification time are the hashed file's: then ``st.st_size``
            is the size of the bytes hashed.
        """
        if self.digests is None:
            return None
        return self.digests.md5(str(path), st)

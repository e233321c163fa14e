"""The manifest: YAML in, frozen, validated objects out.

All validation happens here, before any work: unknown keys, wrong types,
bad names, undefined template names and template cycles are reported with
the manifest's file and line.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from giftwrap import versions


@dataclasses.dataclass(frozen=True)
class Project:
    """One project of the manifest, with every template rendered.

    Settings are already merged in; builders and resolvers read only this.
    """

    name: str
    package_name: str
    version: str
    package_version: versions.PackageVersion
    install_path: PurePosixPath
    giturl: str
    gitref: str
    gitdepth: int | None
    python: str
    resolver: str
    builders: tuple[str, ...]
    resolver_options: Mapping[str, Mapping[str, Any]]
    builder_options: Mapping[str, Mapping[str, Any]]
    system_dependencies: tuple[str, ...] = ()
    pip_dependencies: tuple[str, ...] = ()
    postinstall_dependencies: tuple[str, ...] = ()
    include_config: bool = False
    force_overwrite: bool = False
    output_dir: Path = Path('output')
    where: str = ''

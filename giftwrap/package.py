"""One description of a package, shared by every packager.

Builders map a :class:`PackageDescription` to their tool's configuration;
nothing here knows about nfpm, fpm or rpmbuild.  Values come from the
manifest first and from the project's own metadata where it is silent.
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import PurePosixPath

from giftwrap import versions

_DEB_ARCH = {'x86_64': 'amd64', 'aarch64': 'arm64', 'armv7l': 'armhf',
             'ppc64le': 'ppc64el', 's390x': 's390x', 'i686': 'i386'}


@dataclasses.dataclass(frozen=True)
class PackageDescription:
    """What every packager needs to know about one package.

    :ivar depends: requirement strings common to every format.
    :ivar native: compiled code inside: architecture-specific.
    """

    name: str
    version: versions.PackageVersion
    install_path: PurePosixPath
    summary: str
    description: str = ''
    maintainer: str = 'giftwrap <giftwrap@localhost>'
    vendor: str = ''
    license: str = ''
    homepage: str = ''
    depends: tuple[str, ...] = ()
    config_files: tuple[PurePosixPath, ...] = ()
    native: bool = False
    machine: str = dataclasses.field(default_factory=platform.machine)

    @property
    def deb_arch(self) -> str:
        return _DEB_ARCH.get(self.machine, self.machine) if self.native else 'all'

    @property
    def rpm_arch(self) -> str:
        return self.machine if self.native else 'noarch'

    @property
    def deb_filename(self) -> str:
        """``name_version_arch.deb`` (Debian's convention, no epoch)."""
        v = f'{self.version.upstream}-{self.version.release}'
        return f'{self.name}_{v}_{self.deb_arch}.deb'

    @property
    def rpm_filename(self) -> str:
        """``name-version-release.arch.rpm``"""
        return (f'{self.name}-{self.version.upstream}-{self.version.release}'
                f'.{self.rpm_arch}.rpm')


def describe(project, tree, interpreter, checkout=None) -> PackageDescription:
    """Build the description of ``project``'s package from its staged tree."""
    depends = (interpreter.package,) + tuple(
        d for d in project.system_dependencies if d != interpreter.package)
    summary = f'{project.name} {project.version} in a virtualenv at ' \
              f'{project.install_path}'
    commit = f' (commit {checkout.commit})' if checkout is not None else ''
    return PackageDescription(
        name=project.package_name,
        version=project.package_version,
        install_path=PurePosixPath(project.install_path),
        summary=summary,
        description=f'{project.name} built by giftwrap from {project.giturl} '
                    f'at {project.gitref}{commit}.',
        depends=depends,
        config_files=tuple(tree.config_files),
        native=tree.native,
    )

"""The view of a project that drivers receive (driver API 1.1).

The core's :class:`giftwrap.manifest.loader.Project` has some fifty fields and
changes whenever the manifest gains a key; a driver that read it would
break with them.  :class:`ProjectInfo` is the small part a builder or a
resolver needs, and it changes only with :data:`giftwrap.api.API_VERSION`.
What a package is made of (name, version, dependencies, scripts) is in
:class:`giftwrap.package.description.PackageDescription`, the builder's other input.
"""

from __future__ import annotations

import dataclasses
import types
import warnings
from pathlib import Path
from typing import Mapping


@dataclasses.dataclass(frozen=True)
class ProjectInfo:
    """What a driver may know of the project it works on.

    :ivar name: the project's name in the manifest.
    :ivar giturl: where the source is fetched from (a local path resolved).
    :ivar gitref: the branch, tag or commit id the manifest names.
    :ivar provenance_url: ``giturl`` as the manifest writes it, to record in
        packages and metadata (no build machine's path).
    :ivar force_overwrite: an artifact of the same name may be replaced.
    :ivar manifest_dir: the manifest's directory, which relative paths in
        the manifest (templates, patches) are relative to.
    :ivar where: ``file:line`` of the project in the manifest, for errors.
    :ivar package_name: the package's name (API 1.1).
    :ivar maintainer, vendor, license, homepage, summary, description,
        conflicts, provides, replaces: the manifest's package metadata as
        written (API 1.1), so a builder's :meth:`~giftwrap.api.Builder.check_project`
        can refuse what its format cannot carry before any work.
    """

    name: str
    giturl: str
    gitref: str
    provenance_url: str = ''
    force_overwrite: bool = False
    manifest_dir: Path = Path('.')
    where: str = ''
    package_name: str = ''
    maintainer: str = ''
    vendor: str = ''
    license: str = ''
    homepage: str = ''
    summary: str = ''
    description: str = ''
    conflicts: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    locations: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}), repr=False,
        compare=False)

    def where_key(self, key: str) -> str:
        """``file:line`` of manifest ``key`` for this project (or of the
        project when the key is not written), for an error's ``where``."""
        return self.locations.get(key, self.where)

    @classmethod
    def of(cls, project) -> 'ProjectInfo':
        """The view of the core's :class:`giftwrap.manifest.loader.Project`."""
        return cls(
            name=project.name, giturl=project.giturl, gitref=project.gitref,
            provenance_url=project.provenance_url,
            force_overwrite=project.force_overwrite,
            manifest_dir=Path(project.manifest_dir), where=project.where,
            **{f: getattr(project, f) for f in _METADATA},
            locations=types.MappingProxyType(dict(project._locations)))


_METADATA = ('package_name', 'maintainer', 'vendor', 'license', 'homepage',
             'summary', 'description', 'conflicts', 'provides', 'replaces')


class DeprecatedProject:
    """``context.project`` of driver contexts, kept for one release.

    Until driver API 1.0 builders and resolvers read the core's internal
    ``Project`` there; it still answers, with a :class:`DeprecationWarning`,
    and is removed in API 2.0.  Use ``context.project_info``.
    """

    @property
    def project(self):
        warnings.warn(
            'context.project is deprecated and goes with driver API 2.0: '
            'read context.project_info (giftwrap.api.ProjectInfo)',
            DeprecationWarning, stacklevel=2)
        legacy = getattr(self, 'legacy_project', None)
        return legacy if legacy is not None else self.project_info

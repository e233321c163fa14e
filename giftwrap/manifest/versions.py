"""One manifest version, spelled for each package format.

The manifest's ``version`` is split at its last ``-``: a deb's Version is the
whole string (``10.0-bbc1``); an rpm's Version is the part before (``10.0``)
and its Release the part after (``bbc1``).  Without a ``-`` the release is
the ``iteration`` (default ``1``), so ``2025.1`` is ``2025.1-1`` for both.
"""

from __future__ import annotations

import dataclasses
import re

from giftwrap import errors

# Debian policy 5.6.12: upstream starts with a digit; [A-Za-z0-9.+~-] (and
# ':' only with an epoch, which giftwrap sets separately).
_DEB_UPSTREAM = re.compile(r'^[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~-]*)?\Z')
_DEB_REVISION = re.compile(r'^[A-Za-z0-9.+~]+\Z')
# rpm: no '-' in either part; letters, digits and . _ + ~ ^
_RPM_PART = re.compile(r'^[A-Za-z0-9._+~^]+\Z')


@dataclasses.dataclass(frozen=True)
class PackageVersion:
    """A version as each packager needs it.

    :ivar upstream: the part before the last ``-`` (rpm Version).
    :ivar release: the part after it, or the iteration (rpm Release, deb
        revision).
    :ivar epoch: an optional epoch (``0`` means none).
    """

    upstream: str
    release: str
    epoch: int = 0

    @property
    def deb(self) -> str:
        """The full Debian version: ``[epoch:]upstream-release``."""
        base = f'{self.upstream}-{self.release}'
        return f'{self.epoch}:{base}' if self.epoch else base

    @property
    def rpm(self) -> str:
        """``[epoch:]version-release`` as rpm prints it."""
        base = f'{self.upstream}-{self.release}'
        return f'{self.epoch}:{base}' if self.epoch else base

    def __str__(self) -> str:
        return f'{self.upstream}-{self.release}'


def parse(version: str, iteration: str = '1', epoch: int = 0, *,
          where: str | None = None) -> PackageVersion:
    """Split a manifest version for the packagers, checking both formats.

    :raises giftwrap.errors.ManifestError: if it cannot be a valid deb and
        rpm version.
    """
    version = str(version).strip()
    if '-' in version:
        upstream, release = version.rsplit('-', 1)
    else:
        upstream, release = version, str(iteration)
    problems = []
    if not _DEB_UPSTREAM.match(upstream) or not _DEB_REVISION.match(release):
        problems.append('Debian versions must start with a digit and use only '
                        'letters, digits and . + ~')
    if not _RPM_PART.match(upstream) or not _RPM_PART.match(release):
        problems.append('rpm versions and releases use only letters, digits '
                        'and . _ + ~ ^')
    if problems:
        raise errors.ManifestError(
            f'version {version!r} cannot be used for packages: '
            + '; '.join(problems), where=where,
            hint='write it as UPSTREAM-RELEASE, e.g. 2025.1-acme1')
    return PackageVersion(upstream, release, epoch)

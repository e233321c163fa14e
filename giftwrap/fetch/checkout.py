"""What the fetch stage hands on: a project's source at one commit."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Checkout:
    """A project's source, checked out at the commit giftwrap builds.

    :ivar path: the work tree.
    :ivar commit: the full commit id.
    :ivar commit_date: the committer date, timezone-aware.
    :ivar source_version: the version the project's own metadata gives
        (pbr's from git tags, else setup.cfg/pyproject), or ``None``.
    """

    path: Path
    url: str
    ref: str
    commit: str
    commit_date: datetime.datetime
    source_version: str | None = None

    @property
    def commit_short(self) -> str:
        return self.commit[:7]

    def template_values(self) -> dict[str, str]:
        """The names templates see as ``project.<name>`` once cloned."""
        return {
            'commit': self.commit,
            'commit_short': self.commit_short,
            'commit_date': self.commit_date.strftime('%Y%m%d%H%M%S'),
            'source_version': self.source_version or '',
        }

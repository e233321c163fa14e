"""What pins are, and the resolver driver API.

A *resolver* turns a project's checkout into :class:`Pins`: the exact
versions of its dependencies that upstream tested.  Pins are constraints:
giftwrap installs the project's runtime closure under them.  Resolvers are
stevedore drivers in the ``giftwrap.resolvers`` namespace; see
``giftwrap.resolvers.requirements_file`` for the smallest one.
"""

from __future__ import annotations

import abc
import dataclasses
import types
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Mapping

from packaging.utils import canonicalize_name

from giftwrap import errors
from giftwrap.fetch.checkout import Checkout
from giftwrap.util import identifiers
from giftwrap.plugins import fill_defaults
from giftwrap.projectinfo import DeprecatedProject, ProjectInfo

if TYPE_CHECKING:  # pragma: no cover
    from giftwrap.plugins import Option
    from giftwrap.venv.interpreter import Interpreter
    from giftwrap.util.process import Runner
    from giftwrap.resolve.http import HttpClient


@dataclasses.dataclass(frozen=True)
class Pin:
    """One exact version: ``name==version``, with where it came from."""

    name: str
    version: str
    #: sha256 of the distribution file, when replaying a lock file.
    sha256: str | None = None

    @property
    def key(self) -> str:
        """The canonical distribution name (``oslo-config``)."""
        return canonicalize_name(self.name)

    def __str__(self) -> str:
        return f'{self.name}=={self.version}'

    def line(self, *, hashed: bool = False) -> str:
        """``name==version`` (with ``--hash``) for a requirements file, the
        name and version checked: a resolver's answer, a lock or the
        manifest may hold anything.

        :raises giftwrap.errors.ResolveError: a value is not plain.
        """
        what = f'the pin {self.name!r}'
        identifiers.check('name', self.name, f'{what}: name',
                          error=errors.ResolveError)
        identifiers.check('version', self.version, f'{what}: version',
                          error=errors.ResolveError)
        if not hashed:
            return f'{self}\n'
        identifiers.check('sha256', self.sha256, f'{what}: sha256',
                          error=errors.ResolveError)
        return f'{self} --hash=sha256:{self.sha256}\n'


@dataclasses.dataclass(frozen=True)
class Pins:
    """What a resolver returns.

    :ivar pins: canonical name -> :class:`Pin`.
    :ivar requirements: extra requirement lines (ranges) the installer must
        resolve itself at build time; their results are flagged as unpinned.
    :ivar provenance: where the pins came from (URL, commit, Gerrit change,
        Zuul build...), recorded in the summary and the lock file.
    """

    pins: Mapping[str, Pin]
    provenance: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}))
    requirements: tuple[str, ...] = ()
    #: the pins claim the whole runtime closure (e.g. a CI job's freeze):
    #: anything installed without a pin is then an error, not a note.
    complete: bool = False

    @classmethod
    def of(cls, pins, provenance=None, requirements=(), *,
           complete: bool = False) -> 'Pins':
        """Build from an iterable of :class:`Pin` (later ones win)."""
        table = {p.key: p for p in pins}
        return cls(types.MappingProxyType(table),
                   types.MappingProxyType(dict(provenance or {})),
                   tuple(requirements), complete)

    def without(self, *names: str) -> 'Pins':
        """These pins minus ``names`` (compared canonically)."""
        drop = {canonicalize_name(n) for n in names}
        return Pins.of((p for k, p in self.pins.items() if k not in drop),
                       self.provenance, self.requirements,
                       complete=self.complete)

    def constraints_text(self) -> str:
        """The pins as a pip constraints file."""
        return ''.join(p.line() for _, p in sorted(self.pins.items()))


@dataclasses.dataclass(frozen=True)
class ResolveContext(DeprecatedProject):
    """Everything a resolver may use; it touches nothing else.

    :ivar project_info: the project (:class:`giftwrap.api.ProjectInfo`).
    :ivar checkout: the source at the commit being built; None while
        :meth:`Resolver.fingerprint` runs.
    :ivar options: this resolver's ``resolver_options``, every option of
        :attr:`Resolver.options` present (defaults filled in).
    :ivar cache_dir: a directory of its own for cached answers.
    :ivar offline: use only caches; fail clearly when something is missing.
    """

    project_info: ProjectInfo
    checkout: Checkout
    interpreter: 'Interpreter'
    options: Mapping[str, object]
    work_dir: Path
    cache_dir: Path
    runner: 'Runner'
    http: 'HttpClient'
    offline: bool = False
    #: the core's own project, behind the deprecated ``context.project``
    legacy_project: object = dataclasses.field(default=None, repr=False,
                                               compare=False)


class Resolver(abc.ABC):
    """Base class of dependency resolvers (``giftwrap.resolvers``).

    The first line of a subclass's docstring is its summary in
    ``giftwrap list-resolvers``.
    """

    #: The options this resolver accepts, validated before any work.
    options: ClassVar[Mapping[str, 'Option']] = {}
    #: The driver API (major, minor) this resolver is written against (see
    #: :attr:`giftwrap.api.Builder.api_version`).
    api_version: ClassVar[tuple[int, int]] = (1, 0)

    def __init__(self, context: ResolveContext):
        self.context = fill_defaults(context, self.options)

    def fingerprint(self) -> str | None:
        """What the pins depend on besides the commit, read without it.

        Called with ``context.checkout`` set to None, before any work tree
        exists: a warm rebuild whose commit, manifest and fingerprint are
        all unchanged reuses its artifacts without checking out or
        resolving.  Return a string that changes whenever :meth:`resolve`
        could answer differently for the same commit (a digest of the
        constraints files read, say), or None when that cannot be told
        (the default): such projects are always checked out and resolved.
        """
        return None

    @abc.abstractmethod
    def resolve(self) -> Pins:
        """Return the pins for ``self.context.checkout``.

        :returns: the pins, with provenance.
        :raises giftwrap.errors.ResolveError: the pins cannot be found; the
            message says why and what to set.
        """

"""giftwrap's public driver API: everything a third-party builder,
resolver or command imports, and nothing else.

Import from here only::

    from giftwrap.api import Artifact, Builder, Option, StagedTree

The modules these names live in may move between releases; these names
do not, within a major :data:`API_VERSION`.  What bumps it:

* the minor, when something is added (a name, a context field, an
  optional hook with a default): drivers written for 1.0 load in 1.1;
* the major, when something is removed or changes meaning: a driver
  declares the version it is written against as its ``api_version``
  class attribute (default ``(1, 0)``), and giftwrap refuses to load one
  whose major differs from its own, or whose minor is newer, with an error
  naming both.

1.1 added the parts of the package description a builder reads
(:class:`GeneratedFile`, :class:`Target`, :class:`Service`,
:class:`Alternative`) and the HTTP client resolvers get as
``context.http`` (:class:`HttpClient`, :class:`HttpError`).  1.2 added
:meth:`StagedTree.md5` and ``Builder.wants_md5``: the staged files' md5,
computed while the stages before packaging run, for builders that ask.

Builders receive a :class:`BuildContext`, resolvers a
:class:`ResolveContext` (executors, which run a build's jobs, an
:class:`ExecutorContext`): each holds a :class:`ProjectInfo` (the project),
the driver's options with every default filled in, a work directory, and
a :class:`Runner` that runs every command (with ``SOURCE_DATE_EPOCH`` in
its environment).  :mod:`giftwrap.testing` builds them for unit tests.
"""

from giftwrap.package.builder import (Artifact, BuildContext, Builder,
                                      StagedTree, Tool)
from giftwrap.plugins import API_VERSION, Option
from giftwrap.executors.base import Executor, ExecutorContext
from giftwrap.errors import (BuildError, CommandError, DriverError,
                             GiftwrapError, ManifestError, MissingToolError,
                             ResolveError, SourceError)
from giftwrap.venv.interpreter import Interpreter
from giftwrap.package.description import (Alternative, GeneratedFile,
                                          PackageDescription, Service, Target)
from giftwrap.util.process import Result, Runner
from giftwrap.projectinfo import ProjectInfo
from giftwrap.resolve.http import HttpClient, HttpError
from giftwrap.resolve.base import (Checkout, Pin, Pins, ResolveContext,
                                   Resolver)
from giftwrap.manifest.versions import PackageVersion

__all__ = [
    'API_VERSION',
    # builders
    'Alternative', 'Artifact', 'BuildContext', 'Builder', 'GeneratedFile',
    'PackageDescription', 'PackageVersion', 'Service', 'StagedTree', 'Target',
    'Tool',
    # resolvers
    'Checkout', 'HttpClient', 'HttpError', 'Pin', 'Pins', 'ResolveContext',
    'Resolver',
    # executors
    'Executor', 'ExecutorContext',
    # what both receive
    'Interpreter', 'Option', 'ProjectInfo', 'Result', 'Runner',
    # errors: each carries what failed, where and a hint
    'BuildError', 'CommandError', 'DriverError', 'GiftwrapError',
    'ManifestError', 'MissingToolError', 'ResolveError', 'SourceError',
]

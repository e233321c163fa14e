"""Old import paths that keep working for one release, with a warning.

Third-party drivers written before the stage layout imported
``giftwrap.builders.base``, ``giftwrap.sources.base`` and
``giftwrap.drivers``.  Those modules are now shims: every name still
resolves (from :mod:`giftwrap.api` when it is public, else from the module
that holds it now) and each access warns once per call site with a
DeprecationWarning naming the import to use instead.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable


def forward(old: str, new: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the shim ``old`` whose names now live in ``new``.

    :param old: the deprecated module's dotted name.
    :param new: the module that holds its names now.
    :returns: the function to bind as the shim's ``__getattr__``.
    """
    def __getattr__(name: str) -> Any:
        if name.startswith('__'):
            raise AttributeError(name)
        api = importlib.import_module('giftwrap.api')
        public = name in api.__all__
        module = api if public else importlib.import_module(new)
        try:
            value = getattr(module, name)
        except AttributeError:
            raise AttributeError(f'module {old!r} has no attribute {name!r}') from None
        instead = 'giftwrap.api' if public else new
        warnings.warn(f'{old}.{name} is deprecated and goes in the next release: '
                      f'use "from {instead} import {name}"',
                      DeprecationWarning, stacklevel=2)
        return value
    return __getattr__

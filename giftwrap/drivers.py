"""Deprecated import path: use :mod:`giftwrap.api` (this shim goes in the next release)."""

from giftwrap.util import deprecation

__getattr__ = deprecation.forward('giftwrap.drivers', 'giftwrap.plugins')

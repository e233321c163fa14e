"""giftwrap: pinned, versioned virtualenv packages of Python projects."""

import importlib.metadata

try:
    __version__ = importlib.metadata.version('giftwrap')
except importlib.metadata.PackageNotFoundError:  # running from a checkout
    __version__ = '0+unknown'

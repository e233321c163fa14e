"""The identifiers that reach pip's files and git's commands, checked.

A distribution name (PEP 508), an exact version (PEP 440), a sha256 and a
commit id are written into requirements and constraints files or passed to
git.  A value from the manifest, a lock file or a resolver's answer that is
anything else (a newline and ``--extra-index-url``, a branch name where a
commit belongs) is refused here, before it is written.
"""

from __future__ import annotations

import re
from typing import Callable

from packaging.version import VERSION_PATTERN

from giftwrap import errors

_NAME = re.compile(r'[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?')
_VERSION = re.compile(VERSION_PATTERN, re.VERBOSE | re.IGNORECASE)
_SHA256 = re.compile(r'[0-9a-fA-F]{64}')
_COMMIT = re.compile(r'[0-9a-fA-F]{40}')

_RULES: dict[str, tuple[re.Pattern, str]] = {
    'name': (_NAME, 'a distribution name (PEP 508): letters, digits and '
                    '. _ - inside, e.g. oslo.config'),
    'version': (_VERSION, 'an exact version (PEP 440), e.g. "9.1.0"'),
    'sha256': (_SHA256, 'a sha256: 64 hexadecimal digits'),
    'commit': (_COMMIT, 'a full commit id: 40 hexadecimal digits (not a '
                        'branch or tag, which move)'),
}


def check(kind: str, value: object, what: str, *, where: str | None = None,
          error: Callable[..., errors.GiftwrapError] = errors.ManifestError,
          hint: str | None = None) -> str:
    """Return ``value`` if it is a plain ``kind`` (name, version, sha256,
    commit), else raise ``error``.

    :param what: what the value is, for the message (``pip_overrides key``).
    :raises giftwrap.errors.GiftwrapError: ``error``, saying what is wrong.
    """
    pattern, expected = _RULES[kind]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise error(f'{what} {value!r} is not {expected.split(":")[0]}',
                    where=where, hint=hint or f'give {expected}')
    return value


def is_valid(kind: str, value: object) -> bool:
    """Whether ``value`` is a plain ``kind``."""
    return isinstance(value, str) and bool(_RULES[kind][0].fullmatch(value))

"""Package versions ordered as dpkg and rpm order them.

A repository keeps the newest versions of a package; which ones those are
is the package manager's business: ``1.10`` is newer than ``1.9``, an
epoch outranks everything after it, ``2.0~rc1`` comes before ``2.0``.
Neither string order nor file dates get that right, and a re-implementation
would drift from the tools, so the tools themselves compare: ``dpkg
--compare-versions`` for debs and rpm's own ``rpm.vercmp`` (through its
embedded Lua) for rpms.
"""

from __future__ import annotations

import functools
import re
from typing import Iterable

from giftwrap import errors
from giftwrap.trust import signing
from giftwrap.util.process import Runner, base_environment

# What dpkg-deb and rpm accept in a version (so never an option to a tool).
_DEB = re.compile(r'^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*\Z')
_RPM = re.compile(r'^([0-9]+:)?[A-Za-z0-9._+~^]+(-[A-Za-z0-9._+~^]+)?\Z')

# rpm sorts the versions of $GIFTWRAP_EVRS (one a line) with its own
# comparison; the versions reach it as data, never as macro text.
_RPM_SORT = ('%{lua: local t = {} '
             'for v in string.gmatch(os.getenv("GIFTWRAP_EVRS"), "[^\\n]+") '
             'do t[#t + 1] = v end '
             'table.sort(t, function(a, b) return rpm.vercmp(a, b) < 0 end) '
             'print(table.concat(t, "\\n"))}')


def sort_deb(versions: Iterable[str], runner: Runner) -> list[str]:
    """``versions`` oldest first, as dpkg orders them.

    :raises giftwrap.errors.BuildError: a version dpkg does not accept.
    """
    versions = _checked(versions, _DEB, 'deb')
    dpkg = signing.tool('dpkg')

    @functools.lru_cache(maxsize=None)
    def holds(a: str, relation: str, b: str) -> bool:
        result = runner.run([dpkg, '--compare-versions', a, relation, b],
                            check=False, what='dpkg --compare-versions')
        if result.returncode not in (0, 1):
            raise errors.BuildError(
                f'dpkg cannot compare the versions {a!r} and {b!r}',
                where='dpkg --compare-versions', output=result.tail())
        return result.returncode == 0

    def compare(a: str, b: str) -> int:
        if holds(a, 'lt', b):
            return -1
        return 1 if holds(a, 'gt', b) else 0

    return sorted(versions, key=functools.cmp_to_key(compare))


def sort_rpm(evrs: Iterable[str], runner: Runner) -> list[str]:
    """``evrs`` (``[epoch:]version-release``) oldest first, as rpm orders
    them: one ``rpm --eval`` for the whole list.

    :raises giftwrap.errors.BuildError: a version rpm would not write.
    """
    evrs = _checked(evrs, _RPM, 'rpm')
    if len(evrs) < 2:
        return evrs
    env = base_environment(GIFTWRAP_EVRS='\n'.join(evrs))
    output = runner.run([signing.tool('rpm'), '--eval', _RPM_SORT], env=env,
                        what='rpm --eval rpm.vercmp').output
    ordered = [line for line in output.splitlines() if line]
    if sorted(ordered) != sorted(evrs):
        raise errors.BuildError('rpm did not sort the versions it was given',
                                where='rpm --eval', output=output[-2000:])
    return ordered


def _checked(versions: Iterable[str], pattern: re.Pattern, kind: str
             ) -> list[str]:
    versions = list(dict.fromkeys(versions))
    for version in versions:
        if not pattern.match(version):
            raise errors.BuildError(
                f'{version!r} is not a {kind} version', where=kind,
                hint='the package was not made by dpkg-deb or rpm tools; '
                     'rebuild it')
    return versions

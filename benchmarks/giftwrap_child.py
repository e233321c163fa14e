"""Run giftwrap, then record its own peak memory (not its children's).

Usage: ``python giftwrap_child.py MAXRSS_FILE giftwrap-arguments...``

The benchmark runs giftwrap through this wrapper as a child: the wrapper
writes ``getrusage(RUSAGE_SELF).ru_maxrss`` (KiB) of the giftwrap process to
``MAXRSS_FILE`` when giftwrap returns, whatever its status.  The peak of pip,
uv or nfpm (its children) is not included: ``RUSAGE_CHILDREN`` in the parent
would mix them in.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from giftwrap.cli import app as shell


def main() -> int:
    out = Path(sys.argv[1])
    status = 1
    try:
        status = shell.main(sys.argv[2:])
    finally:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out.write_text(f'{peak}\n')
    return status


if __name__ == '__main__':
    sys.exit(main())

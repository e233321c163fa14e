#!/usr/bin/env python3
"""Print each requirement of requirements files at its declared minimum.

``name>=X`` becomes ``name==X`` (extras and markers kept), so the
``minimums`` tox env can install exactly the oldest versions giftwrap
claims to work with and run the unit tests against them.  A requirement
with no ``>=`` is an error: every runtime dependency must declare the
oldest version that works.

Usage: tools/minimums.py requirements.txt [...] [-o minimums.txt]
"""

from __future__ import annotations

import argparse
import sys

from packaging.requirements import Requirement


def minimums(lines: list[str], where: str) -> list[str]:
    pins = []
    for number, line in enumerate(lines, 1):
        text = line.split('#', 1)[0].strip()
        if not text:
            continue
        req = Requirement(text)
        lows = [s.version for s in req.specifier if s.operator == '>=']
        if len(lows) != 1:
            raise SystemExit(f'{where}:{number}: {text!r} declares no single '
                             'minimum (name>=VERSION)')
        extras = f'[{",".join(sorted(req.extras))}]' if req.extras else ''
        marker = f'; {req.marker}' if req.marker else ''
        pins.append(f'{req.name}{extras}=={lows[0]}{marker}')
    return pins


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('requirements', nargs='+')
    parser.add_argument('-o', '--output', help='write here (default: stdout)')
    args = parser.parse_args(argv)
    pins = []
    for path in args.requirements:
        with open(path) as f:
            pins += minimums(f.readlines(), path)
    text = ''.join(f'{pin}\n' for pin in pins)
    if args.output:
        with open(args.output, 'w') as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == '__main__':
    main(sys.argv[1:])

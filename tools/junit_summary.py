"""Print one 'N passed, N failed, N skipped' line over pytest junit files.

With ``--allowed FILE``, exit 1 when a test skipped for a reason that FILE
(regular expressions, one a line, ``#`` comments) does not list: a test
that skips on a fresh machine is a test that does not exist.
"""

import argparse
import re
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--allowed', help='file of allowed skip reasons')
    parser.add_argument('reports', nargs='*')
    args = parser.parse_args()
    totals = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
    skips = []
    for path in args.reports:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError):
            continue
        for suite in root.iter('testsuite'):
            for key in totals:
                totals[key] += int(suite.get(key, 0))
        for case in root.iter('testcase'):
            for skipped in case.iter('skipped'):
                skips.append((f"{case.get('classname')}::{case.get('name')}",
                              skipped.get('message', '')))
    failed = totals['failures'] + totals['errors']
    passed = totals['tests'] - failed - totals['skipped']
    print(f"{passed} passed, {failed} failed, {totals['skipped']} skipped")
    if not args.allowed:
        return 0
    with open(args.allowed) as stream:
        allowed = [re.compile(line.strip()) for line in stream
                   if line.strip() and not line.startswith('#')]
    bad = [(test, message) for test, message in skips
           if not any(p.match(message) for p in allowed)]
    for test, message in bad:
        print(f'not an allowed skip: {test}: {message}', file=sys.stderr)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())

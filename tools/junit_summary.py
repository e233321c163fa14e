"""Print one 'N passed, N failed, N skipped' line over pytest junit files."""

import sys
import xml.etree.ElementTree as ET

totals = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        continue
    for suite in root.iter('testsuite'):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
failed = totals['failures'] + totals['errors']
passed = totals['tests'] - failed - totals['skipped']
print(f"{passed} passed, {failed} failed, {totals['skipped']} skipped")

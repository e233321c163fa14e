"""A value with a trailing line break is never valid.

Python's ``$`` also matches before a final ``\\n``, so a validator written
``re.match(r'^name$', value)`` would accept ``'name\\n'``, and the line
break would reach a control file, a unit or a command.  Every anchored
validator ends with ``\\Z``; these check a few of them through their
public checks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.venv import build as venv

ROOT = Path(__file__).resolve().parents[2] / 'giftwrap'


#: parsers of lines read from logs, files and tools' output, where a
#: line's own ending may follow and '$' is meant
PARSERS = {'resolvers/requirements_file.py', 'resolvers/cilogs.py',
           'fetch/patches.py', 'util/containers.py', 'trust/repoindex.py'}


def test_no_validator_ends_with_a_dollar_anchor():
    # A pattern '^...$' without re.M: the trailing-newline trap.
    found = []
    for path in ROOT.rglob('*.py'):
        if str(path.relative_to(ROOT)) in PARSERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(
                    node.func, 'attr', None) in (
                        'compile', 'match', 'search') and node.args:
                pattern = node.args[0]
                flags = ast.unparse(node.args[1]) if len(node.args) > 1 \
                    else ''
                text = pattern.value if isinstance(pattern, ast.Constant) \
                    else ast.unparse(pattern)
                if isinstance(text, str) and text.startswith(('^', "f'^")) \
                        and text.rstrip("'").endswith('$') \
                        and 'M' not in flags:
                    found.append(f'{path.relative_to(ROOT)}:{node.lineno}')
    assert found == []


def test_an_extra_with_a_line_break_is_refused():
    with pytest.raises(errors.ManifestError, match='not an extra name'):
        venv.check_extras(['mysql\n'])
    assert venv.check_extras(['mysql']) == ('mysql',)


def test_dollar_matches_before_a_final_newline():
    # the trap itself, so the reason above stays true
    assert re.match(r'^a$', 'a\n') and not re.match(r'^a\Z', 'a\n')

"""giftwrap/venv/relocate.py: a script starts as the installer would have
started it at the install path, whatever the staging path's length.

The forms below are the ones pip (distlib) and uv write (copied from their
output for a path longer than 124 bytes); the functional test in
tests/functional/test_venv.py runs uv itself.
"""

from giftwrap.venv.relocate import script_head

BIN = b'/opt/openstack/2025.2-acme1/nova/bin/'
BODY = b'# -*- coding: utf-8 -*-\nimport sys\n'
LONG_BIN = b'/opt/' + b'x' * 120 + b'/nova/bin/'


def _sh(python: bytes, quote: bytes = b"'") -> bytes:
    return (b"#!/bin/sh\n'''exec' " + quote + python + quote
            + b' "$0" "$@"\n\' \'\'\'\n')


def test_sh_form_of_a_short_path_becomes_a_shebang():
    for quote in (b"'", b'', b'"'):  # uv, pip, and a double-quoting writer
        assert script_head(_sh(BIN + b'python', quote) + BODY, BIN) == \
            b'#!' + BIN + b'python\n' + BODY


def test_a_shebang_too_long_becomes_the_sh_form():
    python = LONG_BIN + b'python'
    assert script_head(b'#!' + python + b'\n' + BODY, LONG_BIN) == \
        _sh(python) + BODY
    # pip's unquoted form of a long path: uv's, so both installers agree
    assert script_head(_sh(python, b'') + BODY, LONG_BIN) == _sh(python) + BODY


def test_what_fits_is_left_alone():
    script = b'#!' + BIN + b'python3.11\n' + BODY
    assert script_head(script, BIN) == script


def test_other_files_are_left_alone():
    for data in (b'#!/bin/sh\necho ' + BIN + b'\n',       # a shell script
                 b'#!/usr/bin/python3\n' + BODY,            # another Python
                 b'#!' + BIN + b'python -E\n' + BODY,       # with an option
                 b"VIRTUAL_ENV='" + BIN + b"'\n",           # activate
                 _sh(b'/usr/bin/python3') + BODY, b''):
        assert script_head(data, BIN) == data

"""Parsing what dpkg-shlibdeps and shlibs files say (giftwrap.package.shlibs)."""

import pytest

from giftwrap.package import shlibs


def test_depends_by_first_alternative():
    assert shlibs.parse_depends(
        'libc6 (>= 2.34), libcap2 (>= 1:2.10), libssl3 (>= 3.0.0) | '
        'libssl3t64, libfoo:amd64 (>= 1)') == {
        'libc6': 'libc6 (>= 2.34)', 'libcap2': 'libcap2 (>= 1:2.10)',
        'libssl3': 'libssl3 (>= 3.0.0) | libssl3t64',
        'libfoo': 'libfoo:amd64 (>= 1)'}
    assert shlibs.parse_depends('') == {}


@pytest.mark.parametrize('soname, parts', [
    ('libyaml-0.so.2', ('libyaml-0', '2')),
    ('libc.so.6', ('libc', '6')),
    ('libssl.so.3', ('libssl', '3')),
    ('libfoo-1.2.so', ('libfoo', '1.2')),
    ('ld-linux-x86-64.so.2', ('ld-linux-x86-64', '2')),
    ('libplain.so', None)])
def test_sonames_split_as_shlibs_files_name_them(soname, parts):
    assert shlibs.split_soname(soname) == parts

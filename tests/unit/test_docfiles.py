"""Tests for giftwrap.docfiles."""
import gzip

from giftwrap import docfiles


def test_short_name_mit_classifier():
    meta = 'Name: x\nClassifier: License :: OSI Approved :: MIT License\n'
    assert docfiles.short_name(meta) == 'Expat'


def test_short_name_expression():
    assert docfiles.short_name('License-Expression: Apache-2.0\n') == \
        'Apache-2.0'


def test_copyright_sorted_and_text():
    lic = {'b/*': ('B', 'Expat'), '*': ('P', 'Apache-2.0')}
    out = docfiles.copyright_file('p', lic, {'Expat': 'Perm.\n\nOk'})
    assert out == docfiles.copyright_file('p', dict(reversed(lic.items())),
                                          {'Expat': 'Perm.\n\nOk'})
    assert out.index('Files: *') < out.index('Files: b/*')
    assert 'License: Expat\n Perm.\n .\n Ok\n' in out
    assert out.startswith('Format: ' + docfiles.FORMAT)


def test_changelog_deterministic():
    a = docfiles.changelog_gz('p', '1.0', {'commit': 'abc'}, 0)
    assert a == docfiles.changelog_gz('p', '1.0', {'commit': 'abc'}, 0)
    assert a[4:8] == b'\0\0\0\0'
    assert b'Thu, 01 Jan 1970' in gzip.decompress(a)

"""Unit tests of patches: finding the files, reading patch's failures."""

from __future__ import annotations

import hashlib

import pytest

from giftwrap import errors
from giftwrap.fetch import patches
from tests.modelutil import make_project

FAILED_HUNK = """\
checking file pkg/a.py
checking file pkg/b.py
Hunk #1 succeeded at 3 with fuzz 1.
Hunk #2 FAILED at 17.
1 out of 2 hunks FAILED
"""
MISSING_FILE = """\
checking file pkg/a.py
can't find file to patch at input line 12
Perhaps you used the wrong -p or --strip option?
The text leading up to this was:
--------------------------
|--- a/pkg/gone.py
|+++ b/pkg/gone.py
--------------------------
No file to patch.  Skipping patch.
checking file pkg/c.py
"""
REVERSED = """\
checking file pkg/a.py
Reversed (or previously applied) patch detected!  Skipping patch.
1 out of 1 hunk ignored
"""


def test_find_reads_patches_beside_the_manifest(tmp_path):
    (tmp_path / 'patches').mkdir()
    (tmp_path / 'patches/1-fix.patch').write_bytes(b'--- a/x\n')
    (tmp_path / 'two.diff').write_bytes(b'--- a/y\n')
    project = make_project(tmp_path, manifest_dir=tmp_path,
                           patches=('patches/1-fix.patch', 'two.diff'))
    found = patches.find(project)
    assert [(p.name, p.path) for p in found] == [
        ('patches/1-fix.patch', tmp_path / 'patches/1-fix.patch'),
        ('two.diff', tmp_path / 'two.diff')]
    assert found[0].sha256 == hashlib.sha256(b'--- a/x\n').hexdigest()
    assert found[1].to_json() == {'file': 'two.diff',
                                  'sha256': found[1].sha256}


def test_a_missing_patch_is_a_manifest_error(tmp_path):
    project = make_project(tmp_path, manifest_dir=tmp_path,
                           patches=('nope.patch',))
    with pytest.raises(errors.ManifestError, match='nope.patch') as info:
        patches.find(project)
    assert info.value.where == f'{tmp_path}/manifest.yml:3'


@pytest.mark.parametrize('output, expected', [
    (FAILED_HUNK, 'hunk #2 of pkg/b.py fails (at line 17)'),
    (MISSING_FILE, "can't find file to patch at input line 12 "
                   "(pkg/gone.py)"),
    (REVERSED, 'Reversed (or previously applied) patch detected!  Skipping '
               'patch. (pkg/a.py)'),
    ('patch: **** Only garbage was found in the patch input.\n',
     'Only garbage was found in the patch input.'),
    ('', 'patch failed'),
])
def test_failures_name_the_file_and_hunk(output, expected):
    assert patches._failure(output) == expected


def test_template_values_and_summary(tmp_path):
    assert patches.template_values(()) == {'patch_count': '0',
                                           'patches_digest': ''}
    one = patches.Patch('a.patch', tmp_path / 'a.patch', 'a' * 64)
    two = patches.Patch('b.patch', tmp_path / 'b.patch', 'b' * 64)
    values = patches.template_values((one, two))
    assert values['patch_count'] == '2'
    assert values['patches_digest'] == patches.digest((one, two))[:8]
    assert patches.digest((two, one)) != patches.digest((one, two))
    assert patches.summary((one,)) == f'patched: a.patch ({"a" * 12})'

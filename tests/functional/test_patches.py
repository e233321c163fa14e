"""Patches with real GNU patch, and a whole build that patches, overrides
pins and installs extras, recorded in the lock and the summary."""

from __future__ import annotations

import difflib
import hashlib
import json
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.fetch import patches
from giftwrap.util.process import Runner, find_tool
from tests import projectutil
from tests.cli import giftwrap

pytestmark = pytest.mark.skipif(shutil.which('patch') is None,
                                reason='GNU patch is not installed '
                                       '(apt-get install patch)')

CLI = 'hello_app/cli.py'


def diff(old: str, new: str, path: str = CLI) -> str:
    return ''.join(difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), f'a/{path}', f'b/{path}'))


@pytest.fixture
def source(tmp_path) -> Path:
    return projectutil.write_sample_project(tmp_path / 'src')


def write_patch(tmp_path: Path, name: str, text: str) -> patches.Patch:
    path = tmp_path / name
    path.write_text(text)
    return patches.Patch(name, path, hashlib.sha256(text.encode()).hexdigest())


def patched_greeting(text: str) -> str:
    return text.replace(projectutil.GREETING, 'hello from a patch')


def test_patches_apply_in_order(tmp_path, source):
    original = (source / CLI).read_text()
    first = patched_greeting(original)
    second = first + '\n\nPATCHED = 2\n'
    found = (write_patch(tmp_path, '1.patch', diff(original, first)),
             write_patch(tmp_path, '2.patch', diff(first, second)))
    patches.apply(found, source, Runner(tmp_path / 'log'))
    assert (source / CLI).read_text() == second
    assert not list(source.rglob('*.orig')) and not list(source.rglob('*.rej'))


def test_a_failing_patch_names_the_file_and_hunk_and_changes_nothing(
        tmp_path, source):
    original = (source / CLI).read_text()
    other = original.replace('import sys', 'import os')
    bad = diff(other, other.replace('return 0', 'return 1')).replace(
        '-    return 0', '-    return 0  # not in the file')
    good = write_patch(tmp_path, 'good.patch',
                       diff(original, patched_greeting(original)))
    with pytest.raises(errors.SourceError) as info:
        patches.apply((good, write_patch(tmp_path, 'bad.patch', bad)),
                      source, Runner(tmp_path / 'log'), where='m.yml:7')
    assert info.value.what == ('the patch bad.patch does not apply: hunk #1 '
                               f'of {CLI} fails (at line 4)')
    assert info.value.where == 'm.yml:7'
    # The good patch was applied; nothing of the bad one.
    assert (source / CLI).read_text() == patched_greeting(original)
    assert not list(source.rglob('*.rej'))


def test_a_patch_for_a_missing_file(tmp_path, source):
    missing = write_patch(tmp_path, 'missing.patch',
                          diff('a\n', 'b\n', 'hello_app/gone.py'))
    with pytest.raises(errors.SourceError,
                       match=r"can't find file to patch.*hello_app/gone.py"):
        patches.apply((missing,), source, Runner(tmp_path / 'log'))


# -- a whole build --------------------------------------------------------------

@pytest.fixture(scope='module')
def repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('git') / 'hello-app'
    projectutil.sample_repo(
        path, requirements=['six'], extras={'idn': ['idna']},
        extra_files={'requirements.txt': 'six==1.16.0\nidna==3.7\n'})
    return path


def build(tmp_path: Path, repo: Path, patch_text: str, **project) -> tuple:
    (tmp_path / 'fix.patch').write_text(patch_text)
    base = f'/opt/giftwrap-patch-{uuid.uuid4().hex[:8]}'
    fields = ''.join(f'    {k}: {json.dumps(v)}\n' for k, v in project.items())
    (tmp_path / 'manifest.yml').write_text(textwrap.dedent(f"""\
        settings:
          version: '1.0+p{{{{ project.patch_count }}}}.{{{{ project.patches_digest }}}}-1'
          base_path: {base}
          package_name_format: 'gw-patch-{{{{ project.name }}}}'
          builders: [nfpm-deb]
          resolver: requirements-file
        projects:
          - name: hello-app
            giturl: {repo}
            patches: [fix.patch]
        """) + fields)
    out = tmp_path / 'out'
    status, stdout, stderr = giftwrap(
        'build', '-m', str(tmp_path / 'manifest.yml'), '-o', str(out),
        '--cache-dir', str(tmp_path / 'cache'), '-f', 'json')
    return status, json.loads(stdout or '[]'), stderr, out


@pytest.mark.skipif(find_tool('nfpm') is None, reason='nfpm is not installed')
def test_a_patched_build_with_overrides_is_recorded(tmp_path, repo):
    original = (projectutil.write_sample_project(tmp_path / 'orig') /
                CLI).read_text()
    text = diff(original, patched_greeting(original))
    status, rows, stderr, out = build(
        tmp_path, repo, text, extras=['idn'], pip_overrides={'six': '1.17.0'},
        pip_exclude=['idna'])
    assert status == 0, stderr
    sha = hashlib.sha256(text.encode()).hexdigest()
    digest = patches.digest([patches.Patch('fix.patch', Path(), sha)])[:8]
    (row,) = rows
    assert row['Artifact'].endswith(
        f'gw-patch-hello-app_1.0+p1.{digest}-1_all.deb')
    message = row['Message']
    assert f'patched: fix.patch ({sha[:12]})' in message
    assert 'pip_overrides: six==1.17.0 (was 1.16.0)' in message
    assert 'pip_exclude: idna (was 3.7)' in message
    assert 'not pinned by the resolver: idna==' in message  # the extra's

    entry = json.loads((out / 'giftwrap.lock').read_text())['projects'][
        'hello-app']
    assert entry['patches'] == [{'file': 'fix.patch', 'sha256': sha}]
    assert entry['overrides'] == {
        'pip_overrides': {'six': {'version': '1.17.0', 'replaced': '1.16.0'}},
        'pip_exclude': {'idna': '3.7'}}
    assert entry['pins']['six']['version'] == '1.17.0'
    assert 'idna' in entry['pins']

    unpacked = tmp_path / 'unpacked'
    Runner().run(['dpkg-deb', '-x', '--', row['Artifact'], str(unpacked)])
    (cli,) = unpacked.rglob(f'site-packages/{CLI}')
    assert 'hello from a patch' in cli.read_text()

    # Replaying the lock with another patch is refused.
    (tmp_path / 'fix.patch').write_text(text.replace('a patch', 'patch 2'))
    status, stdout, stderr = giftwrap(
        'build', '-m', str(tmp_path / 'manifest.yml'), '-o', str(out),
        '--cache-dir', str(tmp_path / 'cache'), '--lock',
        str(out / 'giftwrap.lock'), '-f', 'json')
    assert status == errors.SourceError.exit_code
    assert "the manifest's patches are not those of the lock: fix.patch" \
        in json.loads(stdout)[0]['Message']


def test_a_patch_that_does_not_apply_fails_the_project(tmp_path, repo):
    status, rows, stderr, out = build(
        tmp_path, repo, diff('import nothing\n', 'import something\n'))
    assert status == errors.SourceError.exit_code
    message = rows[0]['Message'] if rows else stderr
    assert ('the patch fix.patch does not apply: hunk #1 of '
            f'{CLI} fails') in message
    assert not (out / 'giftwrap.lock').exists()


# -- links out of the checkout --------------------------------------------------

LINK_TO_ETC = textwrap.dedent("""\
    diff --git a/etc b/etc
    new file mode 120000
    index 0000000..f2a5e6b
    --- /dev/null
    +++ b/etc
    @@ -0,0 +1 @@
    +/etc
    \\ No newline at end of file
    """)


def test_a_patch_adding_a_link_out_of_the_checkout_fails_the_project(
        tmp_path):
    repo = tmp_path / 'no-etc'
    projectutil.sample_repo(repo, etc_files={},
                            extra_files={'requirements.txt': ''})
    status, rows, stderr, out = build(tmp_path, repo, LINK_TO_ETC,
                                      include_config=True)
    assert status == errors.SourceError.exit_code, rows
    message = rows[0]['Message']
    assert 'project hello-app (patch)' in message
    assert ('symlinks that point outside it after the patch fix.patch: '
            'etc -> /etc') in message
    assert 'Traceback' not in stderr and 'internal error' not in message
    assert not list(out.glob('*.deb'))


def test_a_link_the_repository_holds_is_refused_before_any_patch(tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'file').write_text('hi\n')
    source = projectutil.write_sample_project(tmp_path / 'src')
    (source / 'conf').symlink_to(outside)
    through = write_patch(tmp_path, 'through.patch',
                          diff('hi\n', 'pwned\n', 'conf/file'))
    with pytest.raises(errors.SourceError) as info:
        patches.apply((through,), source, Runner(tmp_path / 'log'),
                      where='m.yml:7')
    assert info.value.what == (
        'the checkout has symlinks that point outside it before the patch '
        f'through.patch: conf -> {outside}')
    assert (outside / 'file').read_text() == 'hi\n'


def test_a_cloned_link_out_fails_the_build_before_patching(tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'file').write_text('hi\n')
    from tests import gitutil
    path = tmp_path / 'linked'
    projectutil.sample_repo(path, extra_files={'requirements.txt': ''})
    gitutil.commit(path, {'conf': gitutil.File(str(outside), gitutil.SYMLINK)})
    status, rows, stderr, out = build(tmp_path, path,
                                      diff('hi\n', 'pwned\n', 'conf/file'))
    assert status == errors.SourceError.exit_code, rows
    assert f'conf -> {outside}' in rows[0]['Message']
    assert 'project hello-app (clone)' in rows[0]['Message']
    assert (outside / 'file').read_text() == 'hi\n'

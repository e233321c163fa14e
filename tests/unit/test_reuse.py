"""reuse: the artifact index, its memos and its intact check."""

import os

from giftwrap import reuse

VALUES = {'commit': 'abc', 'pins': '123'}


def _record(out, name='app_1.0_amd64.deb', data=b'deb'):
    out.mkdir(exist_ok=True)
    artifact = out / name
    artifact.write_bytes(data)
    reuse.record(out, 'app', 'nfpm-deb', VALUES, artifact)
    return artifact


def test_memo_is_kept_for_the_entry_of_the_same_key(tmp_path):
    artifact = _record(tmp_path)
    assert reuse.reusable_unchanged(tmp_path, 'app', 'nfpm-deb', 'm1') is None
    reuse.remember(tmp_path, 'app', 'nfpm-deb', VALUES, 'm1')
    assert reuse.reusable_unchanged(tmp_path, 'app', 'nfpm-deb',
                                    'm1') == artifact
    assert reuse.reusable_unchanged(tmp_path, 'app', 'nfpm-deb', 'm2') is None
    # a memo for other inputs is never written onto this entry
    reuse.remember(tmp_path, 'app', 'nfpm-deb', {'commit': 'def'}, 'm3')
    assert reuse.reusable_unchanged(tmp_path, 'app', 'nfpm-deb', 'm3') is None
    # a new build of the file drops the old memo
    _record(tmp_path, data=b'rebuilt')
    assert reuse.reusable_unchanged(tmp_path, 'app', 'nfpm-deb', 'm1') is None


def test_an_artifact_changed_in_place_is_not_reused(tmp_path):
    artifact = _record(tmp_path)
    assert reuse.reusable(tmp_path, 'app', 'nfpm-deb', VALUES) == artifact
    stat = artifact.stat()
    artifact.write_bytes(b'DEB')  # same size, another content
    os.utime(artifact, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert reuse.reusable(tmp_path, 'app', 'nfpm-deb', VALUES) is None
    artifact.unlink()
    assert reuse.reusable(tmp_path, 'app', 'nfpm-deb', VALUES) is None


def test_a_touched_but_identical_artifact_is_reused(tmp_path):
    artifact = _record(tmp_path)
    os.utime(artifact, ns=(1, 1))  # stat differs: hashed, still the same
    assert reuse.reusable(tmp_path, 'app', 'nfpm-deb', VALUES) == artifact

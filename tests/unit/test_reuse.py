"""reuse: the artifact index, its memos and its intact check."""

import os

from giftwrap.run import reuse

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


def test_remembered_says_whether_a_memo_could_match(tmp_path):
    assert not reuse.remembered(tmp_path, 'app', 'nfpm-deb')  # no index
    _record(tmp_path)
    assert not reuse.remembered(tmp_path, 'app', 'nfpm-deb')  # no memo
    reuse.remember(tmp_path, 'app', 'nfpm-deb', VALUES, 'm1')
    assert reuse.remembered(tmp_path, 'app', 'nfpm-deb')
    assert not reuse.remembered(tmp_path, 'app', 'nfpm-rpm')
    assert not reuse.remembered(tmp_path, 'other', 'nfpm-deb')


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


def test_a_tampered_index_never_names_a_file_outside(tmp_path):
    import json

    out = tmp_path / 'out'
    artifact = _record(out)
    index = json.loads((out / reuse.INDEX).read_text())
    entry = index['app/nfpm-deb']
    (tmp_path / 'hostname').write_bytes(b'deb')
    (out / 'link.deb').symlink_to(artifact)
    for name in ('/etc/hostname', '../hostname', '.app.deb.giftwrap-tmp-1',
                 'link.deb', '', None, 7):
        entry['artifact'] = name
        (out / reuse.INDEX).write_text(json.dumps(index))
        assert reuse.reusable(out, 'app', 'nfpm-deb', VALUES) is None, name


def test_stale_staging_files_go_and_live_ones_stay(tmp_path):
    from giftwrap.util import atomic

    out = tmp_path / 'out'
    (out / 'bookworm').mkdir(parents=True)  # a target's subdirectory
    stale = [out / '.app.deb.giftwrap-tmp-dead',
             out / 'bookworm' / '.app.deb.giftwrap-tmp-dead']
    for path in stale:
        path.write_bytes(b'partial')
    live, fd = atomic.stage(out / 'bookworm', 'other.deb')
    outside = tmp_path / 'keep'
    outside.write_bytes(b'x')
    (out / '.x.giftwrap-tmp-link').symlink_to(outside)
    try:
        assert sorted(atomic.remove_stale(out)) == sorted(stale)
        assert live.exists() and outside.exists()
    finally:
        os.close(fd)
    assert atomic.remove_stale(out) == [live]


def test_a_staged_artifact_appears_only_when_committed(tmp_path):
    from giftwrap.package.builder import ArtifactExists, Publisher

    out, built = tmp_path / 'out', tmp_path / 'built.deb'
    built.write_bytes(b'deb')
    publisher = Publisher()
    target = publisher.stage(built, out, 'app.deb')
    assert not target.exists() and publisher.staged(target).read_bytes() == b'deb'
    publisher.commit(target)
    assert target.read_bytes() == b'deb'
    assert [p.name for p in out.iterdir()] == ['app.deb']
    built.write_bytes(b'again')
    try:
        publisher.stage(built, out, 'app.deb')
    except ArtifactExists:
        pass
    else:
        raise AssertionError('an existing artifact was replaced')
    publisher.stage(built, out, 'other.deb')
    publisher.discard()
    assert [p.name for p in out.iterdir()] == ['app.deb']

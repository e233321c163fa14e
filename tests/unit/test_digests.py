"""The staged files' md5, computed ahead (real files, real threads), and the
dpkg-deb builder's use of them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

from giftwrap import testing
from giftwrap.builders import dpkgdeb
from giftwrap.builders.shadow import Shadow
from giftwrap.util.hashing import md5_file
from giftwrap.venv.digests import Digests

FILES = {'pyvenv.cfg': 'home = /usr/bin\n', 'lib/a.py': 'A = 1\n',
         'lib/pkg/b.py': 'B = 2\n' * 1000, 'etc/demo.conf': '[demo]\n'}


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def staged(tmp_path: Path):
    return testing.staged_tree(tmp_path / 'stage', files=FILES)


def test_every_regular_file_is_hashed(tmp_path):
    tree = staged(tmp_path)
    digests = Digests(str(tree.venv), 2)
    for name, text in FILES.items():
        assert digests.md5(str(tree.venv / name)) == md5(text), name
    # a symlink, a directory, a path outside: not answered for
    for path in (tree.venv / 'bin' / 'python', tree.venv / 'lib',
                 tmp_path / 'elsewhere'):
        assert digests.md5(str(path)) is None


def test_a_file_replaced_or_changed_after_hashing_is_not_answered_for(
        tmp_path):
    tree = staged(tmp_path)
    digests = Digests(str(tree.venv), 2)
    digests.wait()
    # written anew and renamed over (a new inode), as giftwrap writes
    fresh = tree.venv / 'lib' / 'a.new'
    fresh.write_text('A = 9\n')
    fresh.replace(tree.venv / 'lib' / 'a.py')
    # changed in place (which giftwrap never does): another mtime
    changed = tree.venv / 'pyvenv.cfg'
    changed.write_text('home = /usr/local/bin\n')
    os.utime(changed, ns=(1, 1))
    assert digests.md5(str(tree.venv / 'lib' / 'a.py')) is None
    assert digests.md5(str(changed)) is None
    assert digests.md5(str(tree.venv / 'etc' / 'demo.conf')) == \
        md5('[demo]\n')


def test_a_tree_removed_while_hashing_fails_nothing(tmp_path):
    tree = staged(tmp_path)
    for n in range(300):
        testing.touch(tree.venv / 'many' / f'{n}.py', b'x' * 4096)
    digests = Digests(str(tree.venv), 2)
    shutil.rmtree(tree.venv)
    digests.wait()
    assert digests.md5(str(tree.venv / 'lib' / 'a.py')) is None


def test_the_shadow_trees_own_hash_is_the_one_computed_ahead(tmp_path):
    # md5_file (the shadow tree's, for files not hashed ahead) and the
    # hashing process (its own loop: it runs on the standard library alone)
    # must agree, on an empty file and one of several read blocks too.
    tree = testing.staged_tree(tmp_path / 'stage', files={
        'empty': '', 'big': 'x' * ((3 << 20) + 7)})
    digests = Digests(str(tree.venv), 2)
    for name in ('empty', 'big'):
        path = tree.venv / name
        assert md5_file(path) == md5_file(str(path)) == \
            digests.md5(str(path)) == md5(path.read_text()), name


def test_the_staged_tree_checks_the_digest_against_the_callers_lstat(
        tmp_path):
    tree = staged(tmp_path)
    tree = dataclasses.replace(tree, digests=Digests(str(tree.venv), 2))
    a, b = tree.venv / 'lib' / 'a.py', tree.venv / 'lib' / 'pkg' / 'b.py'
    assert tree.md5(a) == md5('A = 1\n')  # lstat'ed in md5
    assert tree.md5(str(a), os.lstat(a)) == md5('A = 1\n')
    # an lstat that is not the hashed file's (here another file's)
    assert tree.md5(a, os.lstat(b)) is None
    # the file replaced since the caller's lstat: that lstat is believed,
    # so the caller's size is the one of the bytes hashed
    st = os.lstat(a)
    fresh = tree.venv / 'lib' / 'a.new'
    fresh.write_text('A = 99\n')
    fresh.replace(a)
    assert tree.md5(a, st) == md5('A = 1\n') and st.st_size == 6
    assert tree.md5(a) is None
    # no builder asked for digests
    assert dataclasses.replace(tree, digests=None).md5(b, os.lstat(b)) \
        is None


def test_the_dpkg_deb_builder_takes_md5_and_size_from_the_staged_tree(
        tmp_path):
    tree = staged(tmp_path)
    tree = dataclasses.replace(tree, digests=Digests(str(tree.venv), 2))
    a, cfg = str(tree.venv / 'lib' / 'a.py'), str(tree.venv / 'pyvenv.cfg')
    known = dpkgdeb._known(tree, {a: os.lstat(a)})
    assert known(a) == (md5('A = 1\n'), 6)
    # not seen by the check of the tree: lstat'ed
    assert known(cfg) == (md5(FILES['pyvenv.cfg']), len(FILES['pyvenv.cfg']))
    # not hashed ahead (outside the virtualenv), or gone: hashed by the shadow
    # tree
    outside = tmp_path / 'generated'
    outside.write_text('x\n')
    assert known(str(outside)) is None
    assert known(str(tmp_path / 'gone')) is None


def test_the_shadow_tree_takes_known_digests_and_hashes_the_rest(tmp_path):
    tree = staged(tmp_path)
    root = tmp_path / 'shadow'
    root.mkdir()
    known = {str(tree.venv / 'lib' / 'a.py'): ('f' * 32, 6)}
    with Shadow(root, 2, known=known.get) as shadow:
        for name in sorted(FILES):
            path = tree.venv / name
            shadow.place({'src': str(path), 'dst': f'/opt/demo/{name}',
                          'file_info': {'mode': 0o644}})
        sums, size = shadow.md5sums()
    assert f'{"f" * 32}  opt/demo/lib/a.py\n' in sums
    assert f'{md5(FILES["lib/pkg/b.py"])}  opt/demo/lib/pkg/b.py\n' in sums
    assert shadow.hashed == len(FILES) - 1
    assert size == sum(len(t) for t in FILES.values())


def test_a_memo_answers_for_files_still_the_same(tmp_path):
    tree = staged(tmp_path)
    memo = str(tmp_path / 'cache' / 'scan' / 'md5-x.json')
    Digests(str(tree.venv), 2, memo).wait()
    assert os.path.isfile(memo)
    # The same file (device, inode, size, mtime) with other bytes, which
    # giftwrap never writes: the memo's md5 is taken without reading it,
    # which is what saves a rebuild the reading.
    same = tree.venv / 'lib' / 'a.py'
    st = same.stat()
    same.write_text('A = 2\n')
    os.utime(same, ns=(st.st_atime_ns, st.st_mtime_ns))
    digests = Digests(str(tree.venv), 2, memo)
    assert digests.md5(str(same)) == md5('A = 1\n')
    # a file written anew (another inode) is read
    fresh = tree.venv / 'lib' / 'pkg' / 'b.new'
    fresh.write_text('B = 3\n')
    fresh.replace(tree.venv / 'lib' / 'pkg' / 'b.py')
    digests = Digests(str(tree.venv), 2, memo)
    assert digests.md5(str(tree.venv / 'lib' / 'pkg' / 'b.py')) == \
        md5('B = 3\n')


def test_a_broken_memo_means_hashing_everything(tmp_path):
    tree = staged(tmp_path)
    memo = tmp_path / 'md5.json'
    memo.write_text('{not json')
    digests = Digests(str(tree.venv), 2, str(memo))
    for name, text in FILES.items():
        assert digests.md5(str(tree.venv / name)) == md5(text), name
    assert isinstance(json.loads(memo.read_text()), dict)

"""Files replaced by a new file renamed over them, never written in place:
a staged file may be a hard link into a cache (uv's, the byte-code one)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from giftwrap.util import atomic


def linked(tmp_path: Path, mode: int = 0o640) -> tuple[Path, Path]:
    """(a "cache" file, a "staged" hard link to it), dated long ago."""
    (tmp_path / 'cache').mkdir()
    (tmp_path / 'stage').mkdir()
    cached = tmp_path / 'cache' / 'RECORD'
    cached.write_bytes(b'cached\n')
    os.chmod(cached, mode)
    os.utime(cached, (1_000_000_000, 1_000_000_000))
    staged = tmp_path / 'stage' / 'RECORD'
    os.link(cached, staged)
    return cached, staged


def snapshot(path: Path) -> tuple:
    st = path.stat()
    return path.read_bytes(), st.st_mode, st.st_mtime_ns, st.st_ino


def test_replace_bytes_keeps_the_mode_and_leaves_the_other_link(tmp_path):
    cached, staged = linked(tmp_path)
    before = snapshot(cached)
    atomic.replace_bytes(staged, b'rewritten\n')
    assert staged.read_bytes() == b'rewritten\n'
    assert stat.S_IMODE(staged.stat().st_mode) == 0o640
    assert staged.stat().st_ino != cached.stat().st_ino
    assert snapshot(cached) == before
    assert cached.stat().st_nlink == 1
    assert sorted(p.name for p in staged.parent.iterdir()) == ['RECORD']


def test_replace_bytes_with_a_mode_keeps_special_bits_asked(tmp_path):
    _, staged = linked(tmp_path)
    atomic.replace_bytes(staged, b'#!/bin/sh\n', mode=0o4755)
    assert stat.S_IMODE(staged.stat().st_mode) == 0o4755


def test_replace_bytes_leaves_nothing_when_it_fails(tmp_path):
    cached, staged = linked(tmp_path)
    before = snapshot(cached)
    with pytest.raises(TypeError):
        atomic.replace_bytes(staged, 'not bytes')  # type: ignore[arg-type]
    assert snapshot(cached) == before
    assert staged.stat().st_ino == cached.stat().st_ino
    assert sorted(p.name for p in staged.parent.iterdir()) == ['RECORD']


def test_copy_over_replaces_a_link_with_a_copy_of_the_source(tmp_path):
    cached, staged = linked(tmp_path)
    before = snapshot(cached)
    source = tmp_path / 'checkout.conf'
    source.write_bytes(b'[DEFAULT]\n')
    os.chmod(source, 0o600)
    os.utime(source, (1_500_000_000, 1_500_000_000))
    assert atomic.copy_over(source, staged) == str(staged)
    st = staged.stat()
    assert staged.read_bytes() == b'[DEFAULT]\n'
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o600, 1_500_000_000)
    assert snapshot(cached) == before


def test_copy_over_as_copytree_function_over_an_existing_tree(tmp_path):
    cached, staged = linked(tmp_path)
    before = snapshot(cached)
    etc = tmp_path / 'etc'
    (etc / 'sub').mkdir(parents=True)
    (etc / 'RECORD').write_text('from the checkout\n')
    (etc / 'sub' / 'new.conf').write_text('new\n')
    shutil.copytree(etc, staged.parent, dirs_exist_ok=True,
                    copy_function=atomic.copy_over)
    assert staged.read_text() == 'from the checkout\n'
    assert (staged.parent / 'sub' / 'new.conf').read_text() == 'new\n'
    assert snapshot(cached) == before


def test_replace_bytes_of_a_name_at_the_limit(tmp_path):
    path = tmp_path / ('x' * 255)
    path.write_bytes(b'old')
    atomic.replace_bytes(path, b'new')
    assert path.read_bytes() == b'new'
    assert [p.name for p in tmp_path.iterdir()] == [path.name]

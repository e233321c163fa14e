"""What counts as inside a checkout: links followed, never its .git."""

from __future__ import annotations

import pytest

from giftwrap import errors
from giftwrap.fetch import links


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / 'src'
    (root / '.git').mkdir(parents=True)
    (root / 'pkg').mkdir()
    (root / 'pkg' / 'mod.py').write_text('x = 1\n')
    return root


def test_inside_follows_links_and_excludes_git(tree, tmp_path):
    assert links.inside(tree, tree)
    assert links.inside(tree, tree / 'pkg' / 'mod.py')
    assert links.inside(tree, tree / 'pkg' / '..' / 'pkg')
    assert not links.inside(tree, tree / '..' / 'elsewhere')
    assert not links.inside(tree, tree / '.git' / 'config')
    (tree / 'out').symlink_to(tmp_path)
    assert not links.inside(tree, tree / 'out')
    assert links.inside(tree, tree / 'out' / 'src' / 'pkg')  # back inside
    assert not links.inside(tmp_path / 'sr', tree)  # a prefix is not a parent


def test_links_into_git_or_out_are_named_relative_links_kept(tree, tmp_path):
    (tree / 'pkg' / 'alias.py').symlink_to('mod.py')
    (tree / 'pkg' / 'cfg').symlink_to('../.git/config')
    (tree / 'dangling').symlink_to('/nonexistent/x')
    assert links.escaping(tree) == ['dangling -> /nonexistent/x',
                                    'pkg/cfg -> ../.git/config']
    with pytest.raises(errors.SourceError) as caught:
        links.check(tree, 'https://example.org/x.git', when='after the patch p')
    assert caught.value.what.startswith(
        'the checkout has symlinks that point outside it after the patch p: ')
    assert caught.value.where == 'https://example.org/x.git'


def test_a_subtree_is_checked_against_the_checkout(tree):
    (tree / 'etc').symlink_to('pkg')  # etc -> a directory of the checkout
    assert links.escaping(tree / 'etc', tree) == []
    (tree / 'pkg' / 'up').symlink_to('../../..')
    assert links.escaping(tree / 'etc', tree) == ['etc/up -> ../../..']

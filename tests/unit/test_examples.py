"""Every manifest in examples/ validates, as an operator would run it."""

from __future__ import annotations

import datetime
import json
import textwrap
from pathlib import Path

import pytest
import yaml

from giftwrap.manifest import series

EXAMPLES = Path(__file__).parents[2] / 'examples'
MANIFESTS = sorted(p for p in EXAMPLES.rglob('*.yml'))


def test_every_example_is_found():
    names = {str(p.relative_to(EXAMPLES)) for p in MANIFESTS}
    assert {'giftwrap.yml', 'manifest.yml', 'docker-manifest.yml',
            'openstack-2025.2/manifest.yml',
            'giftwrap-2014/2014-06-sample.yml'} <= names
    assert len([n for n in names if n.startswith('giftwrap-2014/')]) == 5


@pytest.mark.parametrize('path', MANIFESTS,
                         ids=[str(p.relative_to(EXAMPLES)) for p in MANIFESTS])
def test_example_validates(cli, path):
    result = cli('validate', '-m', str(path), '-f', 'json')
    assert result.status == 0, result.stderr
    assert json.loads(result.stdout)['Valid'] is True
    warned = 'OpenStack ' in result.stderr
    if path.parent.name == 'giftwrap-2014' or path.name.endswith(
            'manifest.yml') and path.parent == EXAMPLES:
        assert warned and 'is end of life since' in result.stderr
    elif path.parent.name == 'openstack-2025.2':
        # maintained until its scheduled end of life (see giftwrap.manifest.series)
        phase, _ = series.find('2025.2').phase(datetime.date.today())
        assert warned == (phase in series.UNSUPPORTED), result.stderr
    else:
        assert not warned, result.stderr


def test_2025_2_constraints_are_vendored_beside_the_manifest():
    here = EXAMPLES / 'openstack-2025.2'
    assert 'url: ./upper-constraints.txt' in (here / 'manifest.yml').read_text()
    text = (here / 'upper-constraints.txt').read_text()
    assert 'oslo.config===' in text and 'gunicorn===' in text


def _literal_blocks(text: str):
    """The literal blocks (after ``::``) of a reStructuredText page."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.rstrip().endswith('::'):
            continue
        block = []
        for following in lines[index + 1:]:
            if following.strip() and not following.startswith(' '):
                break
            block.append(following)
        yield textwrap.dedent('\n'.join(block)).strip('\n')


def _doc_manifests():
    for page in sorted((EXAMPLES.parent / 'doc' / 'source').glob('*.rst')):
        for block in _literal_blocks(page.read_text()):
            try:
                data = yaml.safe_load(block)
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and 'projects' in data:
                yield page.name, block


DOC_MANIFESTS = list(_doc_manifests())


def test_the_docs_show_manifests():
    assert 'manifest.rst' in {page for page, _ in DOC_MANIFESTS}


@pytest.mark.parametrize('page, block', DOC_MANIFESTS,
                         ids=[page for page, _ in DOC_MANIFESTS])
def test_manifest_in_the_docs_validates(cli, tmp_path, page, block):
    path = tmp_path / 'manifest.yml'
    path.write_text(block + '\n')
    result = cli('validate', '-m', str(path))
    assert result.status == 0, (page, block, result.stderr)


def test_the_manifest_page_example_builds_a_supported_series(cli, tmp_path):
    page, block = next(d for d in DOC_MANIFESTS if d[0] == 'manifest.rst')
    path = tmp_path / 'manifest.yml'
    path.write_text(block + '\n')
    warned = 'OpenStack ' in cli('validate', '-m', str(path)).stderr
    phase, _ = series.find('2025.2').phase(datetime.date.today())
    assert warned == (phase in series.UNSUPPORTED)

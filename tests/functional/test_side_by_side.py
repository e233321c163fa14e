"""Two versions side by side, their console scripts switched with
update-alternatives: real manifests, nfpm and dpkg (as root).

The version is in ``package_name_format`` and ``base_path``, as the 2014
examples had it, so each version is its own package at its own path;
``link_executables`` links each version's console script, the newest wins
in automatic mode, the operator switches, and removing one version removes
only its links.
"""

from __future__ import annotations

import datetime
import os
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from giftwrap import testing
from giftwrap.manifest import loader as manifest
from giftwrap.package import description as package
from giftwrap.builders import nfpm
from giftwrap.package.builder import StagedTree
from giftwrap.venv.interpreter import Interpreter
from giftwrap.util.process import Runner, find_tool
from giftwrap.resolve.base import Checkout, Pins
from tests.packageutil import dpkg

pytestmark = [
    pytest.mark.skipif(find_tool('nfpm') is None, reason='nfpm is not installed'),
    pytest.mark.skipif(shutil.which('dpkg') is None or os.geteuid() != 0,
                       reason='installing packages needs dpkg and root'),
    pytest.mark.skipif(not Path('/usr/bin/python3.11').exists(),
                       reason='the packages depend on python3.11')]

PYTHON = Interpreter(Path('/usr/bin/python3.11'), '3.11.2')
MANIFEST = """\
settings:
  version: '{version}'
  base_path: '/opt/{name}/{{{{ version }}}}'
  package_name_format: '{name}-{{{{ settings.version.split("-")[0] }}}}'
  link_executables: '{links}'
  builders: [nfpm-deb]
projects:
  - name: {name}
"""


def project(tmp_path: Path, name: str, version: str, links: Path):
    path = tmp_path / f'{version}.yml'
    path.write_text(MANIFEST.format(name=name, version=version, links=links))
    return manifest.load(path).render(name)


def stage(root: Path, proj, script: str) -> StagedTree:
    """A virtualenv whose console script ``script`` prints the version."""
    tree = StagedTree(root, proj.install_path)
    dist = tree.venv / 'lib/python3.11/site-packages' / \
        f'{proj.name.replace("-", "_")}-{proj.package_version.upstream}.dist-info'
    dist.mkdir(parents=True)
    (dist / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {proj.name}'
                                   f'\nVersion: {proj.package_version.upstream}\n')
    (dist / 'entry_points.txt').write_text(
        f'[console_scripts]\n{script} = hello.cli:main\n')
    (tree.venv / 'bin').mkdir()
    (tree.venv / 'bin/python').symlink_to('/usr/bin/python3.11')
    (tree.venv / 'bin' / script).write_text(
        f'#!/bin/sh\necho {proj.package_version.upstream}\n')
    (tree.venv / 'bin' / script).chmod(0o755)
    return tree


def build(tmp_path: Path, proj, script: str) -> Path:
    tree = stage(tmp_path / 'stage', proj, script)
    checkout = Checkout(tmp_path / 'src', proj.giturl, 'master', 'a' * 40,
                        datetime.datetime(2025, 1, 1,
                                          tzinfo=datetime.timezone.utc))
    context = testing.build_context(
        tmp_path, project=proj, package=package.describe(proj, tree, PYTHON),
        interpreter=PYTHON, checkout=checkout, pins=Pins.of([]), options={},
        work_dir=tmp_path / 'work', output_dir=tmp_path / 'out',
        runner=Runner(tmp_path / 'build.log'))
    return nfpm.NfpmDeb(context).build(tree).path


def alternative(name: str) -> str | None:
    """Where the alternative ``name`` points now, or None if it is gone."""
    result = Runner().run(['update-alternatives', '--query', name],
                          check=False)
    if result.returncode != 0:
        return None
    return next(line.split(': ', 1)[1] for line in result.output.splitlines()
                if line.startswith('Value: '))


def run(link: Path) -> str:
    return Runner().run([str(link)]).output.strip()


def test_two_versions_switch_their_links_and_remove_cleanly(tmp_path):
    name = f'gw-sbs-{uuid.uuid4().hex[:8]}'
    script = f'{name}-api'
    links = tmp_path / 'bin'
    links.mkdir()
    old = project(tmp_path, name, '1.0-1', links)
    new = project(tmp_path, name, '1.1-1', links)
    assert (old.package_name, new.package_name) == (f'{name}-1.0',
                                                    f'{name}-1.1')
    debs = [build(tmp_path / v, p, script) for v, p in (('a', old),
                                                        ('b', new))]
    link = links / script
    old_script = f'{old.install_path}/bin/{script}'
    new_script = f'{new.install_path}/bin/{script}'
    try:
        dpkg('-i', '--', str(debs[0]))
        assert run(link) == '1.0'
        dpkg('-i', '--', str(debs[1]))
        assert alternative(script) == new_script and run(link) == '1.1'
        assert Path(old_script).exists()  # side by side, not upgraded

        Runner().run(['update-alternatives', '--set', script, old_script])
        assert run(link) == '1.0'

        dpkg('-r', '--', old.package_name)
        assert not Path(old_script).exists()
        assert alternative(script) == new_script and run(link) == '1.1'

        dpkg('-r', '--', new.package_name)
        assert alternative(script) is None
        assert not link.exists() and not link.is_symlink()
        assert not Path(f'/opt/{name}').exists()
    finally:
        for proj in (old, new):
            dpkg('--purge', '--', proj.package_name)
        Runner().run(['update-alternatives', '--remove-all', script],
                     check=False)
        shutil.rmtree(f'/opt/{name}', ignore_errors=True)


def test_the_default_name_upgrades_in_place(tmp_path):
    path = tmp_path / 'm.yml'
    path.write_text(textwrap.dedent("""\
        settings: {version: '1.0'}
        projects: [{name: nova}]
        """))
    assert manifest.load(path).render('nova').package_name == 'openstack-nova'

"""Small, valid model objects for unit tests: projects and staged trees."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from giftwrap.manifest import versions
from giftwrap.package.builder import StagedTree
from giftwrap.venv.interpreter import Interpreter
from giftwrap.manifest.loader import Project


INSTALL = PurePosixPath('/opt/acme/nova')
PYTHON = Interpreter(Path('/usr/bin/python3.11'), '3.11.2')
METADATA = """\
Metadata-Version: 2.1
Name: nova
Version: 10.0
Summary: Cloud computing fabric controller
Home-page: https://docs.openstack.org/nova/latest/
Author: OpenStack
Author-email: openstack-discuss@lists.openstack.org
License: Apache-2.0

The long description is not used.
"""


def make_tree(root: Path, metadata: str | None = METADATA,
              dist: str = 'nova-10.0') -> StagedTree:
    """A fake virtualenv with the project's METADATA and an etc/ file."""
    venv = root / INSTALL.relative_to('/')
    site = venv / 'lib' / 'python3.11' / 'site-packages'
    (venv / 'etc' / 'nova' / 'rootwrap.d').mkdir(parents=True)
    (venv / 'etc' / 'nova' / 'nova.conf').write_text('[DEFAULT]\n')
    (venv / 'etc' / 'nova' / 'rootwrap.d' / 'compute.filters').write_text('')
    (venv / 'etc' / 'nova' / 'link.conf').symlink_to('nova.conf')
    site.mkdir(parents=True)
    if metadata is not None:
        (site / f'{dist}.dist-info').mkdir()
        (site / f'{dist}.dist-info' / 'METADATA').write_text(metadata)
    return StagedTree(root=root, install_path=INSTALL)


def make_project(tmp_path: Path | None = None, **kw) -> Project:
    where = f'{tmp_path}/manifest.yml:3' if tmp_path else 'manifest.yml:3'
    fields = dict(
        name='nova', package_name='acme-nova', version='10.0-bbc1',
        package_version=versions.parse('10.0-bbc1'), install_path=INSTALL,
        giturl='https://opendev.org/openstack/nova', gitref='master',
        python='/usr/bin/python3.11', resolver='upper-constraints',
        builders=('nfpm-deb',), resolver_options={}, builder_options={},
        where=where)
    fields.update(kw)
    return Project(**fields)

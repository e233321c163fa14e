"""A real OpenStack service: placement 14.0.0 (2025.2) from its release sdist.

The sdist comes from PyPI (``openstack-placement``: PyPI's ``placement`` is
another project), is committed into a git repository here and built with
the 2025.2 upper-constraints (a copy in ``data/``) into a .deb, which must
depend on no headers, compiler or database server, and must install and
run ``placement-manage --help`` on a clean bookworm image.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from tests import gitutil, images

pytestmark = pytest.mark.skipif(shutil.which('buildah') is None,
                                reason='buildah is not installed')

RELEASE = '14.0.0'
CONSTRAINTS = Path(__file__).parent / 'data' / 'upper-constraints-2025.2.txt'

#: Build-time and test-node packages a service package must not pull in.
_FORBIDDEN = re.compile(r'^(?:.*-dev|gcc(?:-\d+)?|g\+\+(?:-\d+)?|cpp|'
                        r'build-essential|mariadb-server|mysql-server|'
                        r'postgresql(?:-\d+)?)$')


def release_repo(top: Path) -> Path:
    """The release sdist, unpacked and committed (tagged) in a git repo."""
    subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps',
                    '--no-binary', ':all:', '--dest', str(top / 'sdist'),
                    f'openstack-placement=={RELEASE}'],
                   check=True, capture_output=True)
    sdist, = (top / 'sdist').glob('*.tar.gz')
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, 'data_filter'):
            archive.extractall(top / 'unpacked', filter='data')
        else:  # pragma: no cover - Python < 3.11.4
            archive.extractall(top / 'unpacked')
    source, = (top / 'unpacked').iterdir()
    files = {}
    for item in sorted(source.rglob('*')):
        if item.is_file() and not item.is_symlink():
            mode = gitutil.EXECUTABLE if item.stat().st_mode & 0o111 \
                else gitutil.REGULAR
            files[item.relative_to(source).as_posix()] = gitutil.File(
                item.read_bytes(), mode)
    repo = top / 'placement'
    gitutil.make_repo(repo, files, message=f'placement {RELEASE} (sdist)',
                      tags=[RELEASE])
    return repo


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    image = f'localhost/{images.base_image()}'
    top = tmp_path_factory.mktemp('openstack')
    repo = release_repo(top)
    manifest = top / 'manifest.yml'
    manifest.write_text(textwrap.dedent(f"""
        settings:
          version: '{RELEASE}-1'
          builders: [nfpm-deb]
          python: /usr/bin/python3
          resolver: upper-constraints
          resolver_options:
            upper-constraints: {{url: '{CONSTRAINTS}'}}
          smoke: [['{{{{ project.install_path }}}}/bin/placement-manage', '--help']]
        projects:
          - name: placement
            giturl: '{repo}'
            gitref: '{RELEASE}'
        """))
    result = subprocess.run(
        ['giftwrap', 'build', '-m', str(manifest), '-o', str(top / 'out'),
         '--cache-dir', str(top / 'cache'), '-f', 'json', '--verify',
         '--verify-image', image, '--verify-engine', 'buildah',
         '--verify-isolation', 'chroot'],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    return {'out': top / 'out', 'rows': json.loads(result.stdout)}


def test_placement_depends_on_no_build_or_test_packages(built):
    deb, = built['out'].glob('openstack-placement_*.deb')
    depends = subprocess.run(['dpkg-deb', '-f', str(deb), 'Depends'],
                             capture_output=True, text=True,
                             check=True).stdout
    names = [re.split(r'[\s(]', alternative.strip())[0]
             for relation in depends.split(',')
             for alternative in relation.split('|') if alternative.strip()]
    assert 'python3.11' in names
    assert [n for n in names if _FORBIDDEN.match(n)] == [], depends


def test_placement_installs_and_runs_on_a_clean_bookworm(built):
    rows = {r['Builder']: r for r in built['rows']}
    assert rows['nfpm-deb']['Status'] == 'built'
    verified = rows['verify']
    assert verified['Status'] == 'passed', verified['Message']
    assert '1 smoke command(s) passed' in verified['Message']
    assert Path(verified['Artifact']).name.startswith('openstack-placement_')

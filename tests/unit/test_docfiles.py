"""The Debian copyright file and changelogs (giftwrap.package.docfiles)."""

import email.parser
import gzip
from pathlib import Path, PurePosixPath

from giftwrap.package import docfiles

INSTALL = PurePosixPath('/opt/acme/nova')
SITE = 'lib/python3.11/site-packages'


def meta(text: str):
    return email.parser.HeaderParser().parsestr(text)


def dist(venv: Path, name: str, version: str, metadata: str,
         files=('pkg/__init__.py',), licenses=None) -> Path:
    info = venv / SITE / f'{name}-{version}.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(
        f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n'
        + metadata)
    record = [f'{f},sha256=x,1' for f in files] + [
        f'{info.name}/METADATA,,', '../../../bin/tool,,']
    (info / 'RECORD').write_text('\n'.join(record) + '\n')
    for filename, text in (licenses or {}).items():
        (info / filename).parent.mkdir(parents=True, exist_ok=True)
        (info / filename).write_text(text)
    return info


def test_short_names_from_expression_license_and_classifiers():
    assert docfiles.short_name(meta(
        'Classifier: License :: OSI Approved :: MIT License\n')) == 'Expat'
    assert docfiles.short_name(meta(
        'License-Expression: MIT OR Apache-2.0\n')) == 'Expat or Apache-2.0'
    assert docfiles.short_name(meta('License: Apache 2.0\n')) == 'Apache-2.0'
    assert docfiles.short_name(meta('License: BSD-3-Clause\n')) == \
        'BSD-3-clause'
    # A whole license text in License: is no name; the classifier is.
    assert docfiles.short_name(meta(
        'License: Copyright (c) X\n Permission is granted\nClassifier: '
        'License :: OSI Approved :: BSD License\n')) == 'BSD-3-clause'
    assert docfiles.short_name(meta('License: UNKNOWN\n')) == 'other'


def test_holder_prefers_authors_then_maintainers():
    assert docfiles.holder(meta('Author: A\nAuthor-email: a@x\n'), 'p') == \
        'A <a@x>'
    assert docfiles.holder(meta('Author-email: "B" <b@x>\n'), 'p') == \
        '"B" <b@x>'
    assert docfiles.holder(meta('Maintainer: M\n'), 'p') == 'M'
    assert docfiles.holder(meta(''), 'p') == 'the p authors'


def test_installed_reads_files_and_license_texts(tmp_path):
    venv = tmp_path / 'venv'
    dist(venv, 'six', '1.16.0', 'License: MIT\nAuthor: B. Peterson\n',
         files=('six.py', '__pycache__/six.cpython-311.pyc'),
         licenses={'LICENSE': 'Permission is hereby granted'})
    dist(venv, 'PyYAML', '6.0.2', 'License-Expression: MIT\n'
         'License-File: LICENSE\n', files=('yaml/__init__.py',),
         licenses={'licenses/LICENSE': 'Copyright (c) 2017-2021 Ingy'})
    yaml, six = docfiles.installed(venv, INSTALL)  # by canonical name
    site = f'opt/acme/nova/{SITE}'
    assert (yaml.name, yaml.license) == ('PyYAML', 'Expat')
    assert yaml.files == (f'{site}/PyYAML-6.0.2.dist-info/*',
                          f'{site}/yaml/*')
    assert [p.name for p in yaml.license_files] == ['LICENSE']
    assert six.files == (f'{site}/six-1.16.0.dist-info/*', f'{site}/six.py')
    assert six.holder == 'B. Peterson'


def test_copyright_references_common_licenses_and_ships_others(tmp_path):
    venv = tmp_path / 'venv'
    dist(venv, 'nova', '31.0.0', 'License: Apache License, Version 2.0\n')
    dist(venv, 'six', '1.16.0', 'License: MIT\n', files=('six.py',),
         licenses={'LICENSE': 'Permission is hereby granted\n\nto anyone'})
    dist(venv, 'nolicense', '1.0', '', files=('nl.py',))
    text = docfiles.copyright_file(
        'nova', 'https://opendev.org/openstack/nova', 'OpenStack',
        'Apache-2.0', docfiles.installed(venv, INSTALL))
    assert text.startswith(f'Format: {docfiles.FORMAT}\nUpstream-Name: nova\n'
                           'Source: https://opendev.org/openstack/nova\n\n'
                           'Files: *\nCopyright: OpenStack\n'
                           'License: Apache-2.0\n\n')
    # the project's own dist-info is "Files: *"
    assert 'nova-31.0.0.dist-info' not in text
    assert ('License: Expat\n Permission is hereby granted\n .\n to anyone\n'
            in text)
    assert 'Copyright: the nolicense authors\nLicense: other\n nolicense ' \
        '1.0 ships no license text' in text
    assert text.endswith(
        'License: Apache-2.0\n On Debian systems, the complete text of the '
        'Apache-2.0 license can be\n found in '
        '"/usr/share/common-licenses/Apache-2.0".\n')
    assert text == docfiles.copyright_file(
        'nova', 'https://opendev.org/openstack/nova', 'OpenStack',
        'Apache-2.0', docfiles.installed(venv, INSTALL))


def test_changelog_records_the_lock_facts_and_is_dated_by_epoch(tmp_path):
    venv = tmp_path / 'venv'
    dist(venv, 'six', '1.16.0', '', files=('six.py',))

    class Patch:
        name, sha256 = 'patches/fix.patch', 'f' * 64

    text = docfiles.debian_changelog(
        package='acme-nova', version='1:31.0.0-1', project='nova',
        upstream='31.0.0', source='https://opendev.org/openstack/nova',
        gitref='stable/2025.2', commit='a' * 40,
        distributions=docfiles.installed(venv, INSTALL), patches=[Patch],
        maintainer='Ops <ops@example.com>', epoch=1735689600)
    lines = text.splitlines()
    assert lines[0] == 'acme-nova (1:31.0.0-1) unstable; urgency=medium'
    assert '    - six 1.16.0' in lines
    assert 'commit ' + 'a' * 40 in text.replace('\n    ', ' ')
    assert 'patches/fix.patch' in text
    assert lines[-1] == \
        ' -- Ops <ops@example.com>  Wed, 01 Jan 2025 00:00:00 +0000'
    assert all(len(line) <= 80 for line in lines if 'sha256' not in line)


def test_license_files_are_installed_paths(tmp_path):
    venv = tmp_path / 'venv'
    dist(venv, 'six', '1.16.0', '', files=('six.py',),
         licenses={'LICENSE': 'x', 'AUTHORS': 'not a license'})

    class Tree:
        pass

    tree = Tree()
    tree.venv, tree.install_path = venv, INSTALL
    assert docfiles.license_files(tree) == (
        INSTALL / SITE / 'six-1.16.0.dist-info/LICENSE',)


def test_compressed_files_are_written_as_gzip_n(tmp_path):
    from giftwrap.package import scripts
    from giftwrap.package.description import GeneratedFile

    class Target:
        files = (GeneratedFile(PurePosixPath('/usr/share/doc/p/changelog.gz'),
                               'text\n', compress=True),)

    written = scripts.write_files(Target, tmp_path / 'files')
    data = written[PurePosixPath('/usr/share/doc/p/changelog.gz')].read_bytes()
    assert gzip.decompress(data) == b'text\n'
    assert data[3] == 0 and data[4:8] == b'\0\0\0\0'  # no name, no time


def test_no_path_of_the_build_machine_is_the_source():
    assert docfiles._source('/srv/git/nova', 'https://nova.example') == \
        'https://nova.example'
    assert docfiles._source('file:///srv/git/nova', '') == \
        'a local git repository'
    assert docfiles._source('repos/nova', '') == 'repos/nova'
    assert docfiles._source('https://opendev.org/openstack/nova', '') == \
        'https://opendev.org/openstack/nova'

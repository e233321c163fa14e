"""Unit tests of the dpkg-deb builder: its command, options, control file,
and the shadow tree it lays out (real files: the runner runs cp, which
lays it out, and plays dpkg-deb)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import errors, testing
from giftwrap.api import Result, Runner
from giftwrap import plugins as drivers
from giftwrap.manifest import versions
from giftwrap.builders import dpkgdeb
from giftwrap.venv.digests import Digests
from giftwrap.package.description import GeneratedFile

EPOCH = testing.EPOCH
INSTALL = '/opt/demo'


def ar(*members: tuple[str, bytes]) -> bytes:
    """An ar archive of ``members`` (name, data), as dpkg-deb writes it."""
    out = b'!<arch>\n'
    for name, data in members:
        out += (f'{name:<16}{EPOCH:<12}0     0     100644  {len(data):<10}'
                .encode() + b'`\n' + data + b'\n' * (len(data) % 2))
    return out


def respond(call: testing.Call):
    """Refuse a mount namespace (the shadow tree is linked, to be looked
    at; :func:`test_the_staged_tree_is_mounted_not_linked` mounts it);
    run cp; play dpkg-deb: write a package whose members say which run
    (the tree's or DEBIAN's alone) wrote them."""
    if os.path.basename(call.argv[0]) == 'unshare':
        return Result(call.argv, 1, 'unshare: no namespace in this test')
    if os.path.basename(call.argv[0]) == 'cp':
        done = subprocess.run(call.argv, capture_output=True, text=True)
        return Result(call.argv, done.returncode, done.stderr)
    which = b'control-only' if '--nocheck' in call.argv else b'tree'
    testing.touch(call.argv[-1], ar(
        ('debian-binary', b'2.0\n'), ('control.tar.gz', which + b' control'),
        ('data.tar.zst', which + b' data')))


def builder(tmp_path: Path, options=None, **package) -> dpkgdeb.DpkgDeb:
    runner = testing.RecordingRunner(respond=respond)
    fields = dict(depends=('python3.11',), config_files=(
        PurePosixPath(f'{INSTALL}/etc/demo.conf'),))
    fields.update(package)
    context = testing.build_context(
        tmp_path, builder=dpkgdeb.DpkgDeb, options=options, runner=runner,
        package=testing.package_description(install_path=INSTALL, **fields))
    return dpkgdeb.DpkgDeb(context)


def tree(tmp_path: Path, old: bool = False):
    """A staged tree; ``old``: its files dated before the build's time
    (as byte-code hard-linked from the cache may be)."""
    staged = testing.staged_tree(tmp_path / 'stage', INSTALL, files={
        'pyvenv.cfg': 'home = /usr/bin\n', 'etc/demo.conf': '[demo]\n',
        'lib/demo.py': 'X = 1\n'})
    if old:
        for path in staged.venv.rglob('*'):
            if path.is_file() and not path.is_symlink():
                os.utime(path, (EPOCH - 86400, EPOCH - 86400))
    return staged


def shadow(tmp_path: Path) -> Path:
    return tmp_path / 'work' / 'root'


def second_debian(tmp_path: Path) -> Path:
    """DEBIAN/ of the second run, with the md5sums."""
    return tmp_path / 'work' / 'control' / 'DEBIAN'


def test_commands_with_default_options(tmp_path):
    built = builder(tmp_path)
    artifact = built.build(tree(tmp_path))
    probe, link, tree_run, control_run = built.context.runner.calls
    assert os.path.basename(probe.argv[0]) == 'unshare'
    assert probe.argv[-1] == 'true'  # nothing but the mount
    venv = tmp_path / 'stage' / INSTALL[1:]
    assert link.argv[1:] == ('-R', '-P', '--preserve=mode', '-l', '--',
                             str(venv), str(tmp_path / 'work' / 'root' /
                                            INSTALL[1:]))
    assert tree_run.argv[0].endswith('/dpkg-deb')
    threads = max(2, len(os.sched_getaffinity(0)))
    options = ('--root-owner-group', '-Zzstd', f'--threads-max={threads}',
               '--no-uniform-compression', '--build', '--')
    work = tmp_path / 'work'
    assert tree_run.argv[1:] == options + (str(work / 'root'),
                                           str(work / 'data.deb'))
    # DEBIAN/ alone, with the md5sums: its conffiles are not in that tree
    assert control_run.argv[1:] == ('--nocheck',) + options + (
        str(work / 'control'), str(work / 'control.deb'))
    assert artifact.path == tmp_path / 'out' / 'demo_1.0-1_all.deb'


def test_package_is_the_tree_run_with_the_control_run_s_control(tmp_path):
    artifact = builder(tmp_path).build(tree(tmp_path))
    assert artifact.path.read_bytes() == ar(
        ('debian-binary', b'2.0\n'),
        ('control.tar.gz', b'control-only control'),
        ('data.tar.zst', b'tree data'))


def test_a_package_that_is_no_deb_is_refused(tmp_path):
    built = builder(tmp_path)
    built.context.runner.respond = lambda call: respond(call) if \
        not call.argv[0].endswith('/dpkg-deb') else testing.touch(
            call.argv[-1], ar(('debian-binary', b'2.0\n')))
    with pytest.raises(errors.BuildError, match='not a .deb'):
        built.build(tree(tmp_path))


def test_environment_is_path_the_build_time_and_a_work_tmpdir(tmp_path):
    built = builder(tmp_path)
    built.build(tree(tmp_path))
    env = built.context.runner.calls[2].env
    assert built.context.runner.calls[3].env == env
    # the tar wrapper first, then the user's PATH
    assert env == {'PATH': str(tmp_path / 'work' / 'fixed-time') + os.pathsep
                   + os.environ['PATH'],
                   'SOURCE_DATE_EPOCH': str(EPOCH),
                   'TMPDIR': str(tmp_path / 'work' / 'tmp')}


@pytest.mark.parametrize('options, words', [
    ({'compression': 'xz', 'compression_level': 9, 'threads': 4},
     ['-Zxz', '-z9', '--threads-max=4']),
    ({'compression': 'gzip'}, ['-Zgzip']),
    ({'compression': 'none', 'threads': 2}, ['-Znone', '--threads-max=2']),
    ({'compression_level': 1}, ['-Zzstd', '-z1'])])
def test_options_reach_dpkg_deb(tmp_path, options, words):
    built = builder(tmp_path, options)
    built.build(tree(tmp_path))
    argv = built.context.runner.calls[2].argv
    assert all(word in argv for word in words), argv


@pytest.mark.parametrize('options, message', [
    ({'compression': 'none', 'compression_level': 3}, 'takes no'),
    ({'compression': 'gzip', 'compression_level': 0}, "outside gzip's 1-9"),
    ({'compression_level': 23}, "outside zstd's 1-22"),
    ({'threads': 1}, 'threads 1 is below 2'),
    ({'compression': 'bzip2'}, 'bzip2')])
def test_bad_options_are_refused_before_any_work(options, message):
    with pytest.raises(errors.DriverError, match=message):
        validated = drivers.validate_options(
            dpkgdeb.DpkgDeb.options, options, driver_name='dpkg-deb')
        dpkgdeb.DpkgDeb.check_options(validated)


def test_control_has_nfpm_debs_fields_in_its_order(tmp_path):
    package = testing.package_description(
        version='10.0-bbc1', install_path=INSTALL,
        description='Line one.\n\nLine three.', maintainer='Ops <o@x.y>',
        homepage='https://x.y', depends=('python3.11', 'libc6 >= 2.36'),
        conflicts=('old',), provides=('demo-api = 1',),
        replaces=('old < 2',))
    package = dataclasses.replace(
        package, version=versions.parse('10.0-bbc1', epoch=2))
    text = dpkgdeb.control(package.target('deb'), 5000)
    assert text == (
        'Package: demo\nVersion: 2:10.0-bbc1\nSection: misc\n'
        'Priority: optional\nArchitecture: all\nMaintainer: Ops <o@x.y>\n'
        'Installed-Size: 4\nReplaces: old (<< 2)\nProvides: demo-api (= 1)\n'
        'Depends: python3.11, libc6 (>= 2.36)\nConflicts: old\n'
        'Homepage: https://x.y\nDescription: demo for testing\n'
        ' Line one.\n .\n Line three.\n')


def test_debian_directory(tmp_path):
    built = builder(tmp_path)
    built.build(tree(tmp_path))
    debian = second_debian(tmp_path)
    assert sorted(p.name for p in debian.iterdir()) == [
        'conffiles', 'control', 'md5sums']
    for name in ('conffiles', 'control'):
        assert (debian / name).read_text() == \
            (shadow(tmp_path) / 'DEBIAN' / name).read_text()
    assert (shadow(tmp_path) / 'DEBIAN' / 'md5sums').read_text() == ''
    assert (debian / 'conffiles').read_text() == f'{INSTALL}/etc/demo.conf\n'
    venv = tmp_path / 'stage' / INSTALL[1:]
    expected = ''.join(
        f'{hashlib.md5((venv / name).read_bytes()).hexdigest()}  '
        f'{INSTALL[1:]}/{name}\n'
        for name in ('etc/demo.conf', 'lib/demo.py', 'pyvenv.cfg'))
    assert (debian / 'md5sums').read_text() == expected
    assert debian.stat().st_mode & 0o777 == 0o755


def test_maintainer_scripts_and_generated_files_are_in_the_tree(tmp_path):
    unit = GeneratedFile(PurePosixPath('/usr/lib/systemd/system/d.service'),
                         '[Service]\n')
    sudoers = GeneratedFile(PurePosixPath('/etc/sudoers.d/demo'), 'x\n',
                            mode=0o440, config=True)
    built = builder(tmp_path, files=(unit, sudoers),
                    scripts={'deb': {'postinst': '#!/bin/sh\ntrue\n'}})
    built.build(tree(tmp_path))
    root = shadow(tmp_path)
    for control in (root / 'DEBIAN', second_debian(tmp_path)):
        postinst = control / 'postinst'
        assert postinst.read_text() == '#!/bin/sh\ntrue\n'
        assert postinst.stat().st_mode & 0o777 == 0o755
        assert (control / 'conffiles').read_text().split() == [
            '/etc/sudoers.d/demo', f'{INSTALL}/etc/demo.conf']
    assert (root / 'etc/sudoers.d/demo').stat().st_mode & 0o777 == 0o440
    assert (root / 'usr/lib/systemd/system/d.service').read_text() == \
        '[Service]\n'
    assert 'etc/sudoers.d/demo\n' in (
        second_debian(tmp_path) / 'md5sums').read_text()


def test_staged_files_are_linked_never_changed(tmp_path):
    staged = tree(tmp_path)
    before = {p: p.lstat() for p in staged.venv.rglob('*')}
    builder(tmp_path).build(staged)
    venv = shadow(tmp_path) / INSTALL[1:]
    for path, st in before.items():
        now = path.lstat()
        assert (now.st_mode, now.st_mtime_ns, now.st_size) == \
            (st.st_mode, st.st_mtime_ns, st.st_size), path
        if path.is_file() and not path.is_symlink():
            assert (venv / path.relative_to(staged.venv)).stat().st_ino \
                == st.st_ino  # a hard link: nothing copied
    assert os.readlink(venv / 'bin' / 'python') == '/usr/bin/python3'


def test_files_older_than_the_build_are_linked_too(tmp_path):
    # Their time does not matter: tar dates every entry (fixed_time_tar),
    # so the caches' files are linked, not copied to be re-dated.
    staged = tree(tmp_path, old=True)
    config = staged.venv / 'etc' / 'demo.conf'
    before = config.stat()
    built = builder(tmp_path)
    built.build(staged)
    link = shadow(tmp_path) / INSTALL[1:] / 'etc' / 'demo.conf'
    assert link.stat().st_ino == before.st_ino
    assert config.stat().st_mtime_ns == before.st_mtime_ns
    first = built.context.runner.calls[2]
    wrapper = Path(first.env['PATH'].split(os.pathsep)[0]) / 'tar'
    assert wrapper.is_file() and os.access(wrapper, os.X_OK)


def real_dpkg_deb(tmp_path: Path, root: Path) -> dict[str, tarfile.TarInfo]:
    """Package ``root`` with the real dpkg-deb through the builder's tar
    wrapper; the data members by name."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (root / 'DEBIAN').mkdir(parents=True)
    (root / 'DEBIAN' / 'control').write_text(
        'Package: demo\nVersion: 1\nArchitecture: all\n'
        'Maintainer: a <a@example.com>\nDescription: demo\n')
    env = dpkgdeb.environment(EPOCH, tmp_path,
                              dpkgdeb.fixed_time_tar(tmp_path / 'bin'))
    deb = tmp_path / 'demo.deb'
    subprocess.run(['dpkg-deb', '--root-owner-group', '-Zgzip', '--build',
                    str(root), str(deb)], env=env, check=True,
                   capture_output=True)
    listing = subprocess.run(['dpkg-deb', '--fsys-tarfile', str(deb)],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(listing)) as archive:
        return {m.name: m for m in archive.getmembers()}


def test_the_tar_wrapper_dates_every_entry(tmp_path):
    # The real dpkg-deb and tar: an old file and a new one, both dated
    # SOURCE_DATE_EPOCH in the package, not clamped.
    root = tmp_path / 'root'
    for name, when in (('old', 946684800), ('new', EPOCH + 86400)):
        testing.touch(root / 'opt' / name, b'x\n')
        os.utime(root / 'opt' / name, (when, when))
    members = real_dpkg_deb(tmp_path, root)
    assert members['./opt/old'].mtime == members['./opt/new'].mtime == \
        EPOCH


def test_the_tar_wrapper_stores_a_second_name_as_a_file(tmp_path):
    # The shadow tree links the staged tree as it is: two names of one
    # inode stay so there, but the package has two files, as nfpm-deb's.
    root = tmp_path / 'root'
    testing.touch(root / 'opt' / 'a.py', b'X = 1\n')
    os.link(root / 'opt' / 'a.py', root / 'opt' / 'b.py')
    members = real_dpkg_deb(tmp_path, root)
    for name in ('./opt/a.py', './opt/b.py'):
        assert members[name].isreg() and members[name].size == 6, name


def test_a_link_made_elsewhere_while_tar_reads_does_not_fail(tmp_path):
    """Another build links (and unlinks) a cache file the staged tree
    shares while dpkg-deb's tar reads it: its ctime changes, and tar says
    "file changed as we read it" and exits 1 (reproduced here for real).
    The bytes did not change: the package is built, and is the one built
    without the other build."""
    root = tmp_path / 'root'
    data = os.urandom(1 << 24)
    testing.touch(root / 'opt' / 'big.so', data)
    quiet = real_dpkg_deb(tmp_path / 'quiet', _copy_tree(root, tmp_path))
    stop = threading.Event()

    def other_build():
        other = tmp_path / 'other-link'
        while not stop.is_set():
            os.link(root / 'opt' / 'big.so', other)
            os.unlink(other)
    thread = threading.Thread(target=other_build)
    thread.start()
    try:
        busy = real_dpkg_deb(tmp_path / 'busy', root)
    finally:
        stop.set()
        thread.join()
    assert busy['./opt/big.so'].size == len(data)
    assert {n: (m.size, m.mode, m.mtime) for n, m in busy.items()} == \
        {n: (m.size, m.mode, m.mtime) for n, m in quiet.items()}


def test_the_tar_wrapper_still_fails_on_other_errors(tmp_path):
    wrapper = dpkgdeb.fixed_time_tar(tmp_path / 'bin') / 'tar'
    done = subprocess.run([str(wrapper), '-cf', '-', 'no-such-file'],
                          cwd=tmp_path, capture_output=True, text=True,
                          env=dpkgdeb.environment(EPOCH, tmp_path))
    assert done.returncode == 2
    assert 'no-such-file' in done.stderr


def _copy_tree(root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / 'copy-root'
    shutil.copytree(root, copy)
    return copy


def test_second_name_of_an_inode_is_linked_and_hashed(tmp_path):
    staged = tree(tmp_path)
    os.link(staged.venv / 'lib' / 'demo.py', staged.venv / 'lib' / 'same.py')
    builder(tmp_path).build(staged)
    lib = shadow(tmp_path) / INSTALL[1:] / 'lib'
    assert (lib / 'same.py').stat().st_ino == \
        (staged.venv / 'lib' / 'demo.py').stat().st_ino
    sums = (second_debian(tmp_path) / 'md5sums').read_text()
    md5 = hashlib.md5(b'X = 1\n').hexdigest()
    assert f'{md5}  {INSTALL[1:]}/lib/demo.py\n' in sums
    assert f'{md5}  {INSTALL[1:]}/lib/same.py\n' in sums


def test_a_tree_that_cannot_be_linked_is_copied(tmp_path):
    # /dev/shm is another filesystem than the work directory: cp -l fails
    # (EXDEV) and the builder copies the staged tree instead.
    shm = Path('/dev/shm')
    if os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.fail('/dev/shm is on the same filesystem as the tests\' '
                    'temporary directory: this test needs another one')
    with tempfile.TemporaryDirectory(dir=shm) as other:
        staged = tree(Path(other))
        builder(tmp_path).build(staged)
        copied = shadow(tmp_path) / INSTALL[1:] / 'lib' / 'demo.py'
        assert copied.read_text() == 'X = 1\n'
        assert copied.stat().st_dev != \
            (staged.venv / 'lib' / 'demo.py').stat().st_dev
    assert INSTALL[1:] + '/lib/demo.py' in (
        second_debian(tmp_path) / 'md5sums').read_text()


def test_directory_modes(tmp_path):
    staged = tree(tmp_path)
    (staged.venv / 'lib').chmod(0o555)  # read-only: still filled
    try:
        builder(tmp_path).build(staged)
    finally:
        (staged.venv / 'lib').chmod(0o755)
    root = shadow(tmp_path)
    lib = root / INSTALL[1:] / 'lib'
    assert lib.stat().st_mode & 0o777 == 0o555
    assert (lib / 'demo.py').exists()
    # (their times do not matter: the tar wrapper dates every entry)
    assert (root / 'opt').stat().st_mode & 0o777 == 0o755


def test_a_second_attempt_replaces_the_shadow_tree(tmp_path):
    staged = tree(tmp_path)
    (staged.venv / 'lib').chmod(0o555)
    try:
        builder(tmp_path).build(staged)
        (tmp_path / 'out' / 'demo_1.0-1_all.deb').unlink()
        builder(tmp_path).build(staged)
    finally:
        (staged.venv / 'lib').chmod(0o755)
    assert (shadow(tmp_path) / INSTALL[1:] / 'lib' / 'demo.py').exists()


@pytest.mark.parametrize('field, value', [
    ('maintainer', 'Ops <o@x.y>\nDepends: evil'),
    ('summary', 'two\nlines'), ('description', 'bell\x07')])
def test_control_characters_are_refused(tmp_path, field, value):
    built = builder(tmp_path, **{field: value})
    with pytest.raises(errors.BuildError, match='control character'):
        built.build(tree(tmp_path))
    assert built.context.runner.calls == []


def test_check_project_names_the_manifest_line():
    project = testing.project_info(
        package_name='demo', maintainer='Ops\r',
        locations={'maintainer': 'm.yml:maintainer'})
    with pytest.raises(errors.ManifestError, match='maintainer') as info:
        dpkgdeb.DpkgDeb.check_project(project)
    assert info.value.where == 'm.yml:maintainer'


def test_a_line_break_in_a_file_name_is_refused(tmp_path):
    staged = tree(tmp_path)
    (staged.venv / 'two\nlines').write_text('')
    with pytest.raises(errors.BuildError, match='line break'):
        builder(tmp_path).build(staged)


def test_dpkg_deb_failure_is_a_command_error(tmp_path):
    built = builder(tmp_path)
    built.context.runner.fail[str(shadow(tmp_path))] = 'dpkg-deb: error: bad'
    with pytest.raises(errors.CommandError, match='dpkg-deb failed'):
        built.build(tree(tmp_path))
    assert not (tmp_path / 'out').exists() or \
        not list((tmp_path / 'out').iterdir())


def test_md5sums_list_what_is_there_after_hashing_ahead(tmp_path):
    # Hashed ahead (as giftwrap does while the system dependencies are
    # found), then a file replaced: md5sums has its new digest.
    staged = tree(tmp_path)
    staged = dataclasses.replace(staged, digests=Digests(str(staged.venv), 2))
    staged.digests.wait()
    fresh = staged.venv / 'lib' / 'demo.new'
    fresh.write_text('X = 2\n')
    fresh.replace(staged.venv / 'lib' / 'demo.py')
    builder(tmp_path).build(staged)
    sums = (second_debian(tmp_path) / 'md5sums').read_text()
    for name, text in (('lib/demo.py', b'X = 2\n'),
                       ('etc/demo.conf', b'[demo]\n')):
        assert f'{hashlib.md5(text).hexdigest()}  {INSTALL[1:]}/{name}\n' \
            in sums


def test_the_staged_tree_is_mounted_not_linked(tmp_path):
    # The real unshare, mount and dpkg-deb (giftwrap runs as root here, or
    # in a user namespace of its own): the shadow tree holds a mount point,
    # not a link per file, and the package has every staged file.
    staged = tree(tmp_path)
    os.link(staged.venv / 'lib' / 'demo.py', staged.venv / 'lib' / 'same.py')
    before = {p: p.lstat() for p in staged.venv.rglob('*')}
    runner = Runner(tmp_path / 'log')
    context = testing.build_context(
        tmp_path, builder=dpkgdeb.DpkgDeb, runner=runner,
        package=testing.package_description(
            install_path=INSTALL, depends=('python3.11',),
            config_files=(PurePosixPath(f'{INSTALL}/etc/demo.conf'),)))
    artifact = dpkgdeb.DpkgDeb(context).build(staged)
    log = (tmp_path / 'log').read_text()
    assert 'unshare --mount' in log and 'cp -R' not in log, log
    mount_point = shadow(tmp_path) / INSTALL[1:]
    assert mount_point.is_dir() and list(mount_point.iterdir()) == []
    for path, st in before.items():  # only read
        now = path.lstat()
        assert (now.st_ino, now.st_mode, now.st_mtime_ns, now.st_nlink) == \
            (st.st_ino, st.st_mode, st.st_mtime_ns, st.st_nlink), path
    listing = subprocess.run(['dpkg-deb', '--fsys-tarfile', str(artifact.path)],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(listing)) as archive:
        members = {m.name: m for m in archive.getmembers()}
    for name in ('lib/demo.py', 'lib/same.py', 'etc/demo.conf',
                 'pyvenv.cfg'):
        member = members[f'.{INSTALL}/{name}']
        assert member.isreg() and member.mtime == EPOCH, name
    assert members[f'.{INSTALL}/bin/python'].linkname == '/usr/bin/python3'
    control = subprocess.run(['dpkg-deb', '-I', str(artifact.path),
                              'md5sums'], check=True, capture_output=True,
                             text=True).stdout
    digest = hashlib.md5(b'X = 1\n').hexdigest()
    assert f'{digest}  {INSTALL[1:]}/lib/same.py' in control
    # nothing stays mounted outside dpkg-deb's namespace
    assert str(mount_point) not in Path('/proc/self/mountinfo').read_text()


def test_a_user_other_than_root_mounts_in_a_user_namespace():
    # The real unshare and mount, run as nobody (setpriv): the staged
    # tree is seen, read-only, at the mount point; nothing stays mounted.
    with tempfile.TemporaryDirectory() as top:
        top = Path(top)
        testing.touch(top / 'src' / 'f', b'staged\n')
        (top / 'mnt').mkdir()
        prefix = dpkgdeb.bind_run(top / 'bin', shutil.which('unshare'),
                                  user=True)
        for path in (top, top / 'src', top / 'mnt', top / 'bin'):
            path.chmod(0o755)
        done = subprocess.run(
            ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
             *prefix, str(top / 'src'), str(top / 'mnt'), 'sh', '-c',
             'cat "$1/f"; touch "$1/new" 2>/dev/null || echo read-only',
             'sh', str(top / 'mnt')], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout == 'staged\nread-only\n'
        assert list((top / 'mnt').iterdir()) == []


def test_the_tree_is_checked_at_a_lower_priority_than_dpkg_deb():
    me = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, me)
    seen = dpkgdeb._yielding(lambda: os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id()))
    assert seen == min(19, before + dpkgdeb.YIELDING)
    assert os.getpriority(os.PRIO_PROCESS, me) == before  # only that thread
    with pytest.raises(errors.BuildError, match='bad tree'):
        dpkgdeb._yielding(lambda: _raise(errors.BuildError('bad tree')))


def _raise(exc):
    raise exc

"""Unit tests of the virtualenv stage: relocation, scan, reports (no pip)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import errors, testing
from giftwrap.venv import installers, build as venv, scan as scanning
from giftwrap.venv.interpreter import Interpreter
from giftwrap.resolve.base import Pin, Pins

INSTALL = PurePosixPath('/opt/openstack/2025.1-acme1/hello-app')
SITE = 'lib/python3.11/site-packages'


def _record_hash(data: bytes) -> str:
    return 'sha256=' + base64.urlsafe_b64encode(
        hashlib.sha256(data).digest()).rstrip(b'=').decode()


def _dist(site: Path, name: str, version: str, record: list[str] = (),
          direct_url: str | None = None) -> Path:
    info = site / f'{name.replace("-", "_")}-{version}.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(
        f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    lines = list(record)
    if direct_url is not None:
        data = json.dumps({'url': direct_url, 'dir_info': {}}).encode()
        (info / 'direct_url.json').write_bytes(data)
        lines.append(f'{info.name}/direct_url.json,{_record_hash(data)},'
                     f'{len(data)}')
    lines.append(f'{info.name}/RECORD,,')
    (info / 'RECORD').write_text(''.join(f'{line}\n' for line in lines))
    return info


@pytest.fixture
def staged(tmp_path) -> Path:
    """A virtualenv-shaped tree as virtualenv and pip leave it, unrelocated."""
    root = tmp_path / 'stage'
    env = root / INSTALL.relative_to('/')
    (env / 'bin').mkdir(parents=True)
    script = f'#!{env}/bin/python\nimport sys\n'.encode()
    (env / 'bin' / 'hello-app').write_bytes(script)
    os.chmod(env / 'bin' / 'hello-app', 0o755)
    (env / 'bin' / 'activate').write_text(f"VIRTUAL_ENV='{env}'\n")
    (env / 'bin' / 'activate_this.py').write_text('import os\n')
    os.symlink('/usr/bin/python3', env / 'bin' / 'python')
    (env / 'pyvenv.cfg').write_text(
        'home = /usr/bin\nversion = 3.11.2\n'
        f'command = /usr/bin/python3 -m virtualenv --app-data /c {env}\n')
    site = env / SITE
    site.mkdir(parents=True)
    _dist(site, 'hello-app', '1.2.3', direct_url=f'file://{tmp_path}/src',
          record=[f'../../../bin/hello-app,{_record_hash(script)},'
                  f'{len(script)}'])
    _dist(site, 'six', '1.16.0', direct_url='https://example.org/six.whl')
    return root


def _env(root: Path) -> Path:
    return root / INSTALL.relative_to('/')


def test_relocate_rewrites_scripts_and_keeps_links_and_modes(staged):
    env = _env(staged)
    venv.relocate(env, INSTALL)
    script = (env / 'bin' / 'hello-app').read_bytes()
    assert script.startswith(f'#!{INSTALL}/bin/python\n'.encode())
    assert stat.S_IMODE((env / 'bin' / 'hello-app').stat().st_mode) == 0o755
    assert (env / 'bin' / 'activate').read_text() == f"VIRTUAL_ENV='{INSTALL}'\n"
    assert os.readlink(env / 'bin' / 'python') == '/usr/bin/python3'
    assert str(staged).encode() not in (env / 'pyvenv.cfg').read_bytes()
    assert not list((env / 'bin').glob('.*'))  # no temporary files left


def test_relocate_updates_record_of_rewritten_files(staged):
    env = _env(staged)
    venv.relocate(env, INSTALL)
    script = (env / 'bin' / 'hello-app').read_bytes()
    record = (env / SITE / 'hello_app-1.2.3.dist-info' / 'RECORD').read_text()
    assert (f'../../../bin/hello-app,{_record_hash(script)},{len(script)}'
            in record.splitlines())


def test_relocate_drops_local_direct_url_only(staged):
    env = _env(staged)
    venv.relocate(env, INSTALL)
    hello = env / SITE / 'hello_app-1.2.3.dist-info'
    assert not (hello / 'direct_url.json').exists()
    assert 'direct_url.json' not in (hello / 'RECORD').read_text()
    six = env / SITE / 'six-1.16.0.dist-info'
    assert (six / 'direct_url.json').exists()
    assert 'direct_url.json' in (six / 'RECORD').read_text()


def test_rewrite_pyvenv_cfg_names_the_install_path(staged):
    env = _env(staged)
    interp = Interpreter(Path('/usr/bin/python3.11'), '3.11.2')
    venv._rewrite_pyvenv_cfg(env, interp, INSTALL)
    lines = (env / 'pyvenv.cfg').read_text().splitlines()
    assert lines == ['home = /usr/bin', 'version = 3.11.2',
                     f'command = virtualenv -p /usr/bin/python3.11 {INSTALL}']


def test_scan_names_files_that_mention_build_paths(tmp_path):
    env = tmp_path / 'root' / 'opt' / 'app'
    (env / 'lib').mkdir(parents=True)
    (env / 'lib' / 'ok.py').write_text('x = "/opt/app"\n')
    (env / 'lib' / 'bad.so').write_bytes(
        scanning.ELF_MAGIC + b'\0' * 100 + f'{tmp_path}/src/x.c\0'.encode())
    with pytest.raises(errors.BuildError) as info:
        venv.scan(env, (tmp_path / 'src',), PurePosixPath('/opt/app'))
    assert 'lib/bad.so' in info.value.output
    assert 'ok.py' not in info.value.output


def test_scan_checks_symlink_targets_without_following(tmp_path):
    env = tmp_path / 'root' / 'opt' / 'app'
    env.mkdir(parents=True)
    (tmp_path / 'work').mkdir()
    os.symlink(tmp_path / 'work', env / 'linked-dir')
    os.symlink('/usr/bin/python3', env / 'python')
    with pytest.raises(errors.BuildError) as info:
        venv.scan(env, (tmp_path / 'work',), PurePosixPath('/opt/app'))
    shown = [line.split(':')[0] for line in info.value.output.splitlines()]
    assert shown == ['linked-dir']


def test_scan_detects_elf_and_ignores_longer_names(tmp_path):
    env = tmp_path / 'opt' / 'app'
    env.mkdir(parents=True)
    (env / 'mod.so').write_bytes(scanning.ELF_MAGIC + b'\2\1\1')
    (env / 'notes.txt').write_text(f'see {tmp_path}/work2/x\n')
    (env / 'lib' / 'sub').mkdir(parents=True)
    (env / 'lib' / 'sub' / 'tool').write_bytes(scanning.ELF_MAGIC + b'\2')
    (env / 'link.so').symlink_to(env / 'mod.so')  # a link: not read
    assert venv.scan(env, (tmp_path / 'work',), PurePosixPath('/opt/app')) \
        == ('lib/sub/tool', 'mod.so')
    (env / 'lib' / 'sub' / 'tool').unlink()
    (env / 'mod.so').unlink()
    assert not venv.scan(env, (tmp_path / 'work',), PurePosixPath('/opt/app'))


def test_scan_finds_a_path_across_a_chunk_boundary(tmp_path):
    env = tmp_path / 'opt' / 'app'
    env.mkdir(parents=True)
    needle = f'{tmp_path}/work/'.encode()
    (env / 'big.bin').write_bytes(b'\0' * (scanning._CHUNK - 5) + needle)
    with pytest.raises(errors.BuildError):
        venv.scan(env, (tmp_path / 'work',), PurePosixPath('/opt/app'))


def test_scan_skips_paths_that_contain_the_install_path(tmp_path):
    env = tmp_path / 'opt' / 'app'
    env.mkdir(parents=True)
    (env / 'script').write_text('#!/opt/app/bin/python\n')
    assert not venv.scan(env, (Path('/opt'),), PurePosixPath('/opt/app'))


def _scanned(monkeypatch) -> list[str]:
    """The files the scan reads (the rest it takes from its memo)."""
    read, real = [], scanning._scan_file

    def counting(path, *args):
        read.append(os.path.basename(path))
        return real(path, *args)

    monkeypatch.setattr(scanning, '_scan_file', counting)
    return read


def test_scan_remembers_clean_files_by_identity(tmp_path, monkeypatch):
    env, memo = tmp_path / 'opt' / 'app', tmp_path / 'cache' / 'scan'
    env.mkdir(parents=True)
    (env / 'a.py').write_text('x = 1\n')
    (env / 'lib.so').write_bytes(b'\x7fELF' + b'\0' * 60)
    work = (tmp_path / 'work',)
    read = _scanned(monkeypatch)
    assert venv.scan(env, work, PurePosixPath('/opt/app'), memo) == \
        ('lib.so',)
    assert sorted(read) == ['a.py', 'lib.so']
    read.clear()
    # the same files again: not read, and still known for ELF
    assert venv.scan(env, work, PurePosixPath('/opt/app'), memo) == \
        ('lib.so',)
    assert read == []
    # a file replaced (a new inode) is read again, and its path found
    replacement = env / 'a.py.new'
    replacement.write_text(f'x = "{tmp_path}/work/src"\n')
    os.replace(replacement, env / 'a.py')
    with pytest.raises(errors.BuildError, match='name a build directory'):
        venv.scan(env, work, PurePosixPath('/opt/app'), memo)
    assert read == ['a.py']
    # an offending file is never remembered: it fails every time
    with pytest.raises(errors.BuildError):
        venv.scan(env, work, PurePosixPath('/opt/app'), memo)
    assert read == ['a.py', 'a.py']


def test_scan_memo_is_per_install_path_and_needles(tmp_path, monkeypatch):
    env, memo = tmp_path / 'opt' / 'app', tmp_path / 'cache' / 'scan'
    env.mkdir(parents=True)
    (env / 'a.py').write_text('x = 1\n')
    read = _scanned(monkeypatch)
    venv.scan(env, (tmp_path / 'work',), PurePosixPath('/opt/app'), memo)
    venv.scan(env, (tmp_path / 'other',), PurePosixPath('/opt/app'), memo)
    venv.scan(env, (tmp_path / 'work',), PurePosixPath('/opt/b'), memo)
    assert read == ['a.py'] * 3
    # a directory inside a needle adds nothing to look for: the same memo
    venv.scan(env, (tmp_path / 'work', tmp_path / 'work' / 'run-2'),
              PurePosixPath('/opt/app'), memo)
    assert read == ['a.py'] * 3


def test_essential_needles_find_what_all_of_them_find():
    needles = [b'/c/work/run/root', b'/c', b'/c/work', b'/cx', b'/d/e']
    assert scanning.essential(needles) == [b'/c', b'/cx', b'/d/e']


def test_a_broken_memo_is_read_as_none(tmp_path, monkeypatch):
    env, memo = tmp_path / 'opt' / 'app', tmp_path / 'cache' / 'scan'
    env.mkdir(parents=True)
    (env / 'a.py').write_text('x = 1\n')
    venv.scan(env, (tmp_path / 'work',), PurePosixPath('/opt/app'), memo)
    for file in memo.iterdir():
        file.write_text('[not a memo')
    read = _scanned(monkeypatch)
    venv.scan(env, (tmp_path / 'work',), PurePosixPath('/opt/app'), memo)
    assert read == ['a.py']


def test_install_report_flags_unpinned_closure_members(tmp_path):
    site = tmp_path / SITE
    for name, version in [('hello-app', '1.2.3'), ('six', '1.16.0'),
                          ('idna', '3.7'), ('pip', '26.3')]:
        _dist(site, name, version)
    report = {'install': [
        {'metadata': {'name': 'hello-app', 'version': '1.2.3'},
         'download_info': {'url': 'file:///src', 'dir_info': {}}},
        {'metadata': {'name': 'six', 'version': '1.16.0'},
         'download_info': {'url': 'https://x/six.whl', 'archive_info': {
             'hashes': {'sha256': 'ab' * 32}}}},
        {'metadata': {'name': 'IDNA', 'version': '3.7'},
         'download_info': {'url': 'https://x/idna.whl', 'archive_info': {}}},
    ]}
    result = installers._install_report(site, [report],
                                        Pins.of([Pin('Six', '1.16.0')]))
    assert dict(result.installed) == {'hello-app': '1.2.3', 'idna': '3.7',
                                      'pip': '26.3', 'six': '1.16.0'}
    assert dict(result.hashes) == {'six': 'ab' * 32}
    assert dict(result.unpinned) == {'idna': '3.7'}


def play_pip(call: testing.Call) -> None:
    """Write the empty report pip would."""
    report = call.argv[call.argv.index('--report') + 1]
    Path(report).write_text('{"install": []}')


def pip_runner(fail: bool = False) -> testing.RecordingRunner:
    """Records argv; plays pip, or fails as pip does on a conflict."""
    return testing.RecordingRunner(
        respond=play_pip,
        fail={'install': 'ResolutionImpossible: six'} if fail else None)


def test_pip_install_puts_requirements_after_double_dash(tmp_path):
    runner = pip_runner()
    installers.pip_install(tmp_path / 'env', 'pip_dependencies',
                           ['-e/etc', 'six'], tmp_path / 'c.txt', tmp_path,
                           tmp_path / 'cache', runner, {})
    argv = runner.calls[0].argv
    assert argv[argv.index('--') + 1:] == ('-e/etc', 'six')
    assert argv[:4] == (f'{tmp_path}/env/bin/python', '-m', 'pip', 'install')
    assert {'--no-compile', '-c'} <= set(argv[:argv.index('--')])
    assert argv[argv.index('--cache-dir') + 1] == f'{tmp_path}/cache/pip'


def test_pip_install_without_cache_uses_none(tmp_path):
    runner = pip_runner()
    installers.pip_install(tmp_path, 'project', ['six'], tmp_path / 'c.txt',
                           tmp_path, None, runner, {})
    assert '--no-cache-dir' in runner.calls[0].argv


def test_pip_install_failure_is_a_build_error_with_output(tmp_path):
    with pytest.raises(errors.BuildError) as info:
        installers.pip_install(tmp_path, 'project', ['six'],
                               tmp_path / 'c.txt', tmp_path, None,
                               pip_runner(fail=True), {})
    assert 'ResolutionImpossible: six' in info.value.output
    assert 'project' in info.value.what


@pytest.mark.parametrize('path', ['opt/app', '/opt/../etc', '/opt/my app',
                                  "/opt/a'b", '/opt/$HOME'])
def test_install_path_must_be_plain_and_absolute(path):
    with pytest.raises(errors.ManifestError):
        venv.check_install_path(PurePosixPath(path))


@pytest.mark.parametrize('extra', ['-x', 'a]', 'a,b', ''])
def test_extras_must_be_names(extra):
    with pytest.raises(errors.ManifestError):
        venv.check_extras((extra,))


def test_environment_maps_build_dirs_for_compilers(tmp_path):
    env = venv._environment(tmp_path / 'src', tmp_path / 'root',
                            tmp_path / 'work')
    assert f'-ffile-prefix-map={tmp_path}/src=.' in env['CFLAGS'].split()
    assert env['PIP_DISABLE_PIP_VERSION_CHECK'] == '1'
    assert env['PYTHONDONTWRITEBYTECODE'] == '1'


def test_copy_config_returns_target_paths(tmp_path):
    src = tmp_path / 'src'
    (src / 'etc' / 'hello').mkdir(parents=True)
    (src / 'etc' / 'hello' / 'hello.conf').write_text('[DEFAULT]\n')
    env = tmp_path / 'env'
    env.mkdir()
    assert venv._copy_config(src, env, INSTALL) == (
        INSTALL / 'etc' / 'hello' / 'hello.conf',)
    assert (env / 'etc' / 'hello' / 'hello.conf').read_text() == '[DEFAULT]\n'


def test_copy_config_replaces_a_file_linked_from_a_cache(tmp_path):
    """The install may have put etc/hello/hello.conf there, linked from
    uv's cache: the checkout's copy is a new file, the cache's unchanged."""
    src = tmp_path / 'src'
    (src / 'etc' / 'hello').mkdir(parents=True)
    (src / 'etc' / 'hello' / 'hello.conf').write_text('[DEFAULT]\n')
    installed = tmp_path / 'env' / 'etc' / 'hello' / 'hello.conf'
    installed.parent.mkdir(parents=True)
    cached = tmp_path / 'cached.conf'
    cached.write_text('from the wheel\n')
    os.link(cached, installed)
    venv._copy_config(src, tmp_path / 'env', INSTALL)
    assert installed.read_text() == '[DEFAULT]\n'
    assert cached.read_text() == 'from the wheel\n'
    assert cached.stat().st_nlink == 1


def test_relocate_never_writes_through_a_link(staged, tmp_path):
    """Scripts, pyvenv.cfg and RECORDs may be hard links into a cache."""
    env = _env(staged)
    paths = [env / 'bin' / 'hello-app', env / 'pyvenv.cfg',
             env / SITE / 'hello_app-1.2.3.dist-info' / 'RECORD']
    cache = tmp_path / 'cache'
    cache.mkdir()
    before = {}
    for number, path in enumerate(paths):
        os.link(path, cache / str(number))
        before[number] = (path.read_bytes(), path.stat().st_mode)
    venv.relocate(env, INSTALL)
    venv._rewrite_pyvenv_cfg(
        env, Interpreter(Path('/usr/bin/python3.11'), '3.11.2'), INSTALL)
    for number, path in enumerate(paths):
        kept = cache / str(number)
        assert (kept.read_bytes(), kept.stat().st_mode) == before[number]
        assert path.read_bytes() != before[number][0], path
        assert kept.stat().st_nlink == 1


def test_copy_config_without_etc_fails(tmp_path):
    with pytest.raises(errors.BuildError) as info:
        venv._copy_config(tmp_path, tmp_path / 'env', INSTALL)
    assert 'include_config' in info.value.hint


def test_build_refuses_a_non_empty_staging_dir(tmp_path):
    env = tmp_path / 'root' / INSTALL.relative_to('/')
    env.mkdir(parents=True)
    (env / 'leftover').write_text('x')
    with pytest.raises(errors.BuildError) as info:
        venv.build(interpreter=Interpreter(Path('/usr/bin/python3'), '3.11.2'),
                   stage_root=tmp_path / 'root', install_path=INSTALL,
                   source_dir=tmp_path / 'src', pins=Pins.of([]),
                   work_dir=tmp_path / 'work', cache_dir=None,
                   runner=pip_runner())
    assert 'not empty' in info.value.what


def test_unknown_installer_is_refused():
    with pytest.raises(errors.BuildError) as info:
        venv.check_installer('poetry')
    assert 'pip, uv' in info.value.hint


def test_missing_uv_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(installers, 'find_tool', lambda name: None)
    venv.check_installer('pip')
    with pytest.raises(errors.MissingToolError) as info:
        venv.check_installer('uv')
    assert 'pip install uv' in info.value.hint


def _uv(tmp_path, cache_dir, monkeypatch) -> tuple['installers._Uv', testing.RecordingRunner]:
    monkeypatch.setattr(installers, 'find_tool', lambda name: f'/usr/bin/{name}')
    runner = testing.RecordingRunner()
    tool = installers._Uv(tmp_path / 'env', tmp_path / 'c.txt',
                          tmp_path / 'work', cache_dir, runner,
                          {'PATH': '/usr/bin'})
    return tool, runner


def test_uv_install_targets_the_venv_and_links_from_the_cache(
        tmp_path, monkeypatch):
    tool, runner = _uv(tmp_path, tmp_path / 'cache', monkeypatch)
    tool.install('project', ['--', '-e/etc', 'six'])
    (call,) = runner.calls
    argv = call.argv
    assert argv[:3] == ('/usr/bin/uv', 'pip', 'install')
    assert argv[argv.index('--python') + 1] == f'{tmp_path}/env/bin/python'
    assert argv[argv.index('--link-mode') + 1] == 'hardlink'
    assert argv[argv.index('-c') + 1] == f'{tmp_path}/c.txt'
    assert argv[argv.index('--') + 1:] == ('-e/etc', 'six')
    assert call.env['UV_CACHE_DIR'] == f'{tmp_path}/cache/uv'
    assert call.cwd == tmp_path / 'work'
    assert not [a for a in argv if 'index' in a]


def test_uv_without_cache_dir_uses_none_and_copies(tmp_path, monkeypatch):
    tool, runner = _uv(tmp_path, None, monkeypatch)
    tool.install('project', ['--', 'six'])
    env, argv = runner.calls[0].env, runner.calls[0].argv
    assert env['UV_NO_CACHE'] == '1' and 'UV_CACHE_DIR' not in env
    assert argv[argv.index('--link-mode') + 1] == 'copy'


def test_uv_check_runs_uv_pip_check(tmp_path, monkeypatch):
    tool, runner = _uv(tmp_path, None, monkeypatch)
    tool.check()
    argv = runner.calls[0].argv
    assert argv[1:3] == ('pip', 'check')
    assert argv[argv.index('--python') + 1] == f'{tmp_path}/env/bin/python'


_PYLOCK_ENTRY = {
    'name': 'PyYAML', 'version': '6.0.2',
    'sdist': {'url': 'https://x/pyyaml-6.0.2.tar.gz',
              'hashes': {'sha256': 'aa' * 32}},
    'wheels': [
        {'url': 'https://x/PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64'
                '.manylinux2014_x86_64.whl', 'hashes': {'sha256': 'bb' * 32}},
        {'url': 'https://x/PyYAML-6.0.2-py3-none-any.whl',
         'hashes': {'sha256': 'cc' * 32}}]}


def test_installed_file_hash_matches_the_wheel_tags():
    tags = frozenset(installers.parse_tag('cp311-cp311-manylinux_2_17_x86_64')
                     | installers.parse_tag('cp311-cp311-manylinux2014_x86_64'))
    assert installers._installed_file_hash(_PYLOCK_ENTRY, tags) == 'bb' * 32
    tags = frozenset(installers.parse_tag('py3-none-any'))
    assert installers._installed_file_hash(_PYLOCK_ENTRY, tags) == 'cc' * 32


def test_installed_file_hash_of_a_locally_built_wheel_is_the_sdists():
    tags = frozenset(installers.parse_tag('cp311-cp311-linux_x86_64'))
    assert installers._installed_file_hash(_PYLOCK_ENTRY, tags) == 'aa' * 32


def test_relocate_drops_uv_cache_records(staged):
    env = _env(staged)
    info = env / SITE / 'hello_app-1.2.3.dist-info'
    data = b'{"timestamp":{"secs_since_epoch":1}}'
    (info / 'uv_cache.json').write_bytes(data)
    with open(info / 'RECORD', 'a') as record:
        record.write(f'{info.name}/uv_cache.json,{_record_hash(data)},'
                     f'{len(data)}\n')
    venv.relocate(env, INSTALL)
    assert not (info / 'uv_cache.json').exists()
    assert 'uv_cache.json' not in (info / 'RECORD').read_text()


@pytest.mark.parametrize('layout', ['etc-is-a-link', 'link-inside-etc'])
def test_include_config_never_copies_through_a_link_out(tmp_path, layout):
    secret = tmp_path / 'host-etc'
    secret.mkdir()
    (secret / 'shadow').write_text('root:x:\n')
    source = tmp_path / 'src'
    source.mkdir()
    if layout == 'etc-is-a-link':
        (source / 'etc').symlink_to(secret)
        shown = f'etc -> {secret}'
    else:
        (source / 'etc').mkdir()
        (source / 'etc' / 'app.conf').write_text('[DEFAULT]\n')
        (source / 'etc' / 'shadow').symlink_to(secret / 'shadow')
        shown = f'etc/shadow -> {secret / "shadow"}'
    venv_dir = tmp_path / 'venv'
    venv_dir.mkdir()
    with pytest.raises(errors.SourceError) as info:
        venv._copy_config(source, venv_dir, PurePosixPath('/opt/app'))
    assert shown in info.value.what
    assert 'include_config' in info.value.what
    assert not (venv_dir / 'etc').exists()


def test_include_config_keeps_links_inside_the_checkout(tmp_path):
    source = tmp_path / 'src'
    (source / 'etc').mkdir(parents=True)
    (source / 'etc' / 'app.conf').write_text('[DEFAULT]\n')
    (source / 'etc' / 'alias.conf').symlink_to('app.conf')
    venv_dir = tmp_path / 'venv'
    venv_dir.mkdir()
    found = venv._copy_config(source, venv_dir, PurePosixPath('/opt/app'))
    assert found == (PurePosixPath('/opt/app/etc/app.conf'),)
    assert os.readlink(venv_dir / 'etc' / 'alias.conf') == 'app.conf'


PYLOCK = '''\
[[packages]]
name = "six"
version = "1.16.0"

[[packages]]
name = "idna"
version = "3.7"
marker = "python_version>='3.8'"

[[packages]]
name = "hello-app"
directory = { path = "/work/src" }
'''


def test_a_resolution_becomes_plain_requirement_lines(tmp_path):
    lock = tmp_path / 'pylock.toml'
    lock.write_text(PYLOCK)
    assert installers._resolved(lock) == [
        ('six', '1.16.0', ''), ('idna', '3.7', 'python_version >= "3.8"')]


@pytest.mark.parametrize('entry', [
    'name = "six"\nversion = "1.16.0\\n--index-url http://evil.example/s"',
    'name = "--editable=/etc"\nversion = "1.16.0"',
    'name = "six"\nversion = "1.16.0"\n'
    'marker = "python_version >= \'3.8\'\\n-e /etc"',
    'name = "six"\nversion = "1.16.0"\nmarker = "not a marker"'])
def test_a_resolution_that_is_not_plain_is_refused(tmp_path, entry):
    """A cached resolution is a file: what it names is checked before it
    is written into a requirements file, as a lock's pins are."""
    lock = tmp_path / 'pylock.toml'
    lock.write_text(PYLOCK + f'\n[[packages]]\n{entry}\n')
    with pytest.raises(errors.BuildError) as caught:
        installers._resolved(lock)
    assert 'not a plain name, version and marker' in caught.value.what
    assert 'prune --kind discover' in caught.value.hint


def test_operator_uv_config_is_where_uv_itself_would_look(tmp_path):
    """UV_CONFIG_FILE; else the user's; else the system's (XDG_CONFIG_DIRS,
    then /etc).  Never one found from the working directory up."""
    user = tmp_path / 'home' / '.config' / 'uv' / 'uv.toml'
    xdg_system = tmp_path / 'xdg' / 'uv' / 'uv.toml'
    for each in (user, xdg_system):
        each.parent.mkdir(parents=True)
        each.write_text('')
    home = str(tmp_path / 'home')
    find = installers.operator_uv_config
    assert find({'UV_CONFIG_FILE': '/given.toml', 'HOME': home}) == \
        Path('/given.toml')
    assert find({'HOME': home}) == user
    assert find({'HOME': home, 'XDG_CONFIG_HOME': str(tmp_path / 'none'),
                 'XDG_CONFIG_DIRS': f'relative:{tmp_path / "xdg"}'}) == \
        xdg_system
    environ = {'HOME': str(tmp_path / 'nobody'),
               'XDG_CONFIG_DIRS': str(tmp_path / 'none')}
    expected = Path('/etc/uv/uv.toml') if Path('/etc/uv/uv.toml').is_file() \
        else None
    assert find(environ) == expected


def test_uv_discovers_no_configuration():
    env = installers.uv_environment({'PATH': '/bin'}, None)
    assert env['UV_NO_CONFIG'] == '1' and env['UV_NO_CACHE'] == '1'

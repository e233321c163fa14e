"""What a repository names stays inside its checkout; what an HTTP answer
names is http(s); a broken repository is a source error.

Each case runs the real command line on a real git repository (dulwich)
and, where a server is involved, a real HTTP server on 127.0.0.1; it checks
the exit status of the error's class, the message (what, where), that no
traceback is shown and that nothing of the secret file leaks.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from giftwrap import errors
from tests import gitutil, httpserver, projectutil

SECRET = 'root-secret-token-1234'


def shown(result) -> str:
    """What the operator sees: the summary table, and below it (on stderr)
    each failure's output tail and hint."""
    return result.stdout + result.stderr


def run(tmp_path: Path, manifest: str) -> subprocess.CompletedProcess:
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(manifest))
    return subprocess.run(
        ['giftwrap', 'build', '-m', str(path), '-o', str(tmp_path / 'out'),
         '--cache-dir', str(tmp_path / 'cache')],
        capture_output=True, text=True)


def manifest(repo: Path, resolver: str, gitref: str = 'master',
             **options) -> str:
    values = {'version': '1.0-1', 'builders': ['nfpm-deb'],
              'resolver': resolver}
    if options:
        values['resolver_options'] = {resolver: options}
    return ('settings: ' + json.dumps(values) + '\n' +
            f"projects: [{{name: hello-app, giturl: '{repo}', "
            f"gitref: '{gitref}'}}]\n")


@pytest.fixture
def secret(tmp_path) -> Path:
    """A file of the build machine that no repository may read."""
    path = tmp_path / 'host' / 'secret.txt'
    path.parent.mkdir()
    path.write_text(f'{SECRET} is not a requirement\n')
    return path


def repo_with(tmp_path: Path, files: dict[str, str]) -> Path:
    path = tmp_path / 'hello-app'
    projectutil.sample_repo(path, extra_files=files)
    return path


def assert_clean_failure(result, status: int, tmp_path: Path) -> None:
    assert result.returncode == status, result.stdout + result.stderr
    assert 'Traceback' not in result.stderr + result.stdout
    assert 'internal error' not in shown(result)
    logs = ''.join(p.read_text() for p in (tmp_path / 'cache').rglob('*.log'))
    assert SECRET not in result.stdout + result.stderr + logs
    assert not list((tmp_path / 'out').glob('*.deb'))


# -- item 4: paths from the repository ---------------------------------------

@pytest.mark.parametrize('line', [
    'deps = -c{env:TOX_CONSTRAINTS_FILE:file://SECRET}',
    'deps = -c{env:UPPER_CONSTRAINTS_FILE:SECRET}',
    'constraints = {toxinidir}/RELATIVE',
])
def test_tox_ini_constraints_outside_the_checkout(tmp_path, secret, line):
    relative = Path('../' * 12).joinpath(*secret.parts[1:])
    tox = '[tox]\nminversion = 3\n\n[testenv]\n' + line.replace(
        'SECRET', str(secret)).replace('RELATIVE', str(relative)) + '\n'
    repo = repo_with(tmp_path, {'tox.ini': tox})
    result = run(tmp_path, manifest(repo, 'upper-constraints'))
    assert_clean_failure(result, errors.ResolveError.exit_code, tmp_path)
    assert 'tox.ini:5' in shown(result)
    assert ('which is not an http(s) URL or a file inside the checkout'
            in shown(result))


def test_tox_ini_constraints_inside_the_checkout_are_read(tmp_path):
    tox = '[testenv]\nconstraints = {toxinidir}/uc.txt\n'
    repo = repo_with(tmp_path, {'tox.ini': tox, 'uc.txt': 'not a pin!\n'})
    result = run(tmp_path, manifest(repo, 'upper-constraints'))
    assert result.returncode == errors.ResolveError.exit_code, result.stdout
    # The file is the repository's own: it is quoted.
    assert "uc.txt:1: 'not a pin!' is not a requirement" in shown(result)


@pytest.mark.parametrize('line', ['-c file://SECRET', '-r SECRET',
                                  '-r ' + '../' * 12 + 'SECRET_RELATIVE'])
def test_requirement_includes_outside_the_checkout(tmp_path, secret, line):
    text = line.replace('SECRET_RELATIVE', str(secret)[1:]).replace(
        'SECRET', str(secret))
    repo = repo_with(tmp_path, {'requirements.txt': f'six==1.16.0\n{text}\n'})
    result = run(tmp_path, manifest(repo, 'requirements-file'))
    assert_clean_failure(result, errors.ResolveError.exit_code, tmp_path)
    assert f'{secret} is outside the checkout' in shown(result)
    assert 'requirements.txt:2' in shown(result)


def test_a_requirement_include_may_not_leave_through_a_link(tmp_path, secret):
    path = tmp_path / 'hello-app'
    projectutil.sample_repo(path, extra_files={
        'requirements.txt': '-r reqs/base.txt\n'})
    gitutil.commit(path, {'reqs': gitutil.File(str(secret.parent),
                                               gitutil.SYMLINK)})
    result = run(tmp_path, manifest(path, 'requirements-file'))
    assert_clean_failure(result, errors.SourceError.exit_code, tmp_path)
    assert f'reqs -> {secret.parent}' in shown(result)


def test_the_operators_own_file_is_read_but_never_quoted(tmp_path, secret):
    repo = repo_with(tmp_path, {})
    result = run(tmp_path, manifest(repo, 'requirements-file',
                                    file=str(secret)))
    assert_clean_failure(result, errors.ResolveError.exit_code, tmp_path)
    assert f'{secret}:1: this line is not a requirement' in shown(result)


def test_the_operators_constraints_file_is_never_quoted(tmp_path, secret):
    repo = repo_with(tmp_path, {})
    result = run(tmp_path, manifest(repo, 'upper-constraints',
                                    url=f'file://{secret}'))
    assert_clean_failure(result, errors.ResolveError.exit_code, tmp_path)
    assert f'{secret}:1: this line is not a requirement' in shown(result)


@pytest.mark.parametrize('include', ['file:SECRET', 'file://SECRET'])
def test_a_remote_file_may_include_only_urls(tmp_path, secret, include):
    repo = repo_with(tmp_path, {})
    with httpserver.LoopbackServer() as server:
        server.add('/reqs.txt', 'six==1.16.0\n-c ' +
                   include.replace('SECRET', str(secret)) + '\n')
        result = run(tmp_path, manifest(repo, 'requirements-file',
                                        file=server.url('/reqs.txt')))
    assert_clean_failure(result, errors.ResolveError.exit_code, tmp_path)
    assert f'the remote file {server.url("/reqs.txt")} includes' \
        in shown(result)


# -- item 8: a broken repository ---------------------------------------------

def _drop_object(repo: Path, sha: str) -> None:
    (repo / '.git' / 'objects' / sha[:2] / sha[2:]).unlink()


def broken_missing_blob(path: Path) -> tuple[str, str]:
    projectutil.pinned_repo(path)
    gitutil.commit(path, {'data.txt': 'lost\n'})
    from dulwich.repo import Repo
    with Repo(str(path)) as repo:
        tree = repo[repo.head()].tree
        sha = repo[tree][b'data.txt'][1].decode()
    _drop_object(path, sha)
    return 'master', f'the object {sha} is missing'


def broken_missing_parent(path: Path) -> tuple[str, str]:
    first = projectutil.pinned_repo(path)
    gitutil.commit(path, {'later.txt': 'x\n'})
    _drop_object(path, first)
    return 'master', f'the object {first} is missing'


def broken_ref_to_nothing(path: Path) -> tuple[str, str]:
    projectutil.pinned_repo(path)
    ghost = '1234567890abcdef1234567890abcdef12345678'
    (path / '.git' / 'refs' / 'heads' / 'ghost').write_text(ghost + '\n')
    return 'ghost', f'the object {ghost} is missing (refs/heads/ghost points at it)'


def broken_unreadable_ref(path: Path) -> tuple[str, str]:
    projectutil.pinned_repo(path)
    (path / '.git' / 'refs' / 'tags' / 'garbage').write_text('not a sha\n')
    return 'master', 'refs/tags/garbage cannot be read'


def broken_packed_refs(path: Path) -> tuple[str, str]:
    projectutil.pinned_repo(path)
    (path / '.git' / 'packed-refs').write_text(
        '# pack-refs with: peeled fully-peeled sorted\nzzzz refs/heads/old\n')
    return 'master', 'refs/heads/old cannot be read'


def broken_corrupt_commit(path: Path) -> tuple[str, str]:
    commit = projectutil.pinned_repo(path)
    loose = path / '.git' / 'objects' / commit[:2] / commit[2:]
    loose.chmod(0o644)
    loose.write_bytes(b'not zlib data')
    return 'master', f'the object {commit} cannot be read'


BREAKAGES = [broken_missing_blob, broken_missing_parent, broken_ref_to_nothing,
             broken_unreadable_ref, broken_packed_refs, broken_corrupt_commit]


@pytest.mark.parametrize('breakage', BREAKAGES)
def test_a_broken_repository_is_a_source_error(tmp_path, breakage):
    path = tmp_path / 'hello-app'
    gitref, what = breakage(path)
    result = run(tmp_path, manifest(path, 'requirements-file', gitref=gitref))
    assert_clean_failure(result, errors.SourceError.exit_code, tmp_path)
    assert f'the git repository {path} is broken: {what}' in shown(result)
    assert 'git fsck' in shown(result)


@pytest.mark.parametrize('breakage', BREAKAGES)
def test_a_broken_repository_without_the_cache(tmp_path, breakage):
    from giftwrap.fetch import git
    path = tmp_path / 'hello-app'
    gitref, what = breakage(path)
    with pytest.raises(errors.SourceError) as caught:
        git.fetch(str(path), gitref, tmp_path / 'work')
    assert caught.value.what == f'the git repository {path} is broken: ' \
        + what + caught.value.what.partition(what)[2]
    assert caught.value.where == str(path)
    assert not (tmp_path / 'work').exists()


def test_an_unreachable_repository_says_so_not_no_such_branch(tmp_path):
    # The warm-rebuild check meets the error first; the clone reports it
    # rather than asking again and reading a half-made mirror.
    url = httpserver.free_port_url() + 'nova.git'
    result = run(tmp_path, manifest(url, 'requirements-file'))
    assert_clean_failure(result, errors.SourceError.exit_code, tmp_path)
    assert f'project hello-app (clone): {url}: cannot fetch from {url}' \
        in shown(result)
    assert 'no branch' not in shown(result)

"""Parsing what dpkg-shlibdeps and shlibs files say (giftwrap.package.shlibs)."""

import pytest

from giftwrap.package import shlibs


def test_depends_by_first_alternative():
    assert shlibs.parse_depends(
        'libc6 (>= 2.34), libcap2 (>= 1:2.10), libssl3 (>= 3.0.0) | '
        'libssl3t64, libfoo:amd64 (>= 1)') == {
        'libc6': 'libc6 (>= 2.34)', 'libcap2': 'libcap2 (>= 1:2.10)',
        'libssl3': 'libssl3 (>= 3.0.0) | libssl3t64',
        'libfoo': 'libfoo:amd64 (>= 1)'}
    assert shlibs.parse_depends('') == {}


@pytest.mark.parametrize('soname, parts', [
    ('libyaml-0.so.2', ('libyaml-0', '2')),
    ('libc.so.6', ('libc', '6')),
    ('libssl.so.3', ('libssl', '3')),
    ('libfoo-1.2.so', ('libfoo', '1.2')),
    ('ld-linux-x86-64.so.2', ('ld-linux-x86-64', '2')),
    ('libplain.so', None)])
def test_sonames_split_as_shlibs_files_name_them(soname, parts):
    assert shlibs.split_soname(soname) == parts


class TestCache:
    """dpkg-shlibdeps' answer kept by what it depends on (the runner plays
    dpkg-query and dpkg-shlibdeps; the files and the cache are real)."""

    def runner_for(self, tmp_path, version='2.36-9'):
        from giftwrap import testing

        def respond(call):
            if call.argv[0] == 'dpkg-query':
                return f'libc6 {version}\n'
            if '--version' in call.argv:
                return 'dpkg-shlibdeps 1.21.22\n'
            return 'shlibs:Depends=libc6 (>= 2.34)\n'
        return testing.RecordingRunner(respond=respond)

    def relations(self, tmp_path, runner):
        venv = tmp_path / 'venv'
        return shlibs.deb_relations(
            [venv / 'lib' / 'python3.11' / 'site-packages' / 'x.so'], venv,
            runner, tmp_path / 'scratch', {'libc.so.6': 'libc6'},
            tmp_path / 'cache')

    def ran_shlibdeps(self, runner):
        return sum(1 for argv in runner.argvs() if argv[0] ==
                   'dpkg-shlibdeps' and '--version' not in argv)

    @pytest.fixture(autouse=True)
    def elf(self, tmp_path):
        path = tmp_path / 'venv' / 'lib' / 'python3.11' / 'site-packages'
        path.mkdir(parents=True)
        (path / 'x.so').write_bytes(b'\x7fELF one')
        return path / 'x.so'

    def test_the_second_time_comes_from_the_cache(self, tmp_path):
        first, second = self.runner_for(tmp_path), self.runner_for(tmp_path)
        expected = {'libc6': 'libc6 (>= 2.34)'}
        assert self.relations(tmp_path, first) == expected
        assert self.relations(tmp_path, second) == expected
        assert (self.ran_shlibdeps(first), self.ran_shlibdeps(second)) == \
            (1, 0)
        assert [p.suffix for p in (tmp_path / 'cache' / 'shlibs').iterdir()] \
            == ['.json']

    def test_other_code_or_library_versions_ask_again(self, tmp_path, elf):
        self.relations(tmp_path, self.runner_for(tmp_path))
        newer = self.runner_for(tmp_path, version='2.36-9+deb12u1')
        self.relations(tmp_path, newer)
        assert self.ran_shlibdeps(newer) == 1
        elf.write_bytes(b'\x7fELF two')
        again = self.runner_for(tmp_path, version='2.36-9+deb12u1')
        self.relations(tmp_path, again)
        assert self.ran_shlibdeps(again) == 1

    @pytest.mark.parametrize('text', ['not json', '[]', '{"libc6": 1}',
                                      '{"libc6": "libfoo (>= 1)"}'])
    def test_a_bad_entry_is_ignored_and_replaced(self, tmp_path, text):
        self.relations(tmp_path, self.runner_for(tmp_path))
        entry, = (tmp_path / 'cache' / 'shlibs').iterdir()
        entry.write_text(text)
        runner = self.runner_for(tmp_path)
        assert self.relations(tmp_path, runner) == {
            'libc6': 'libc6 (>= 2.34)'}
        assert self.ran_shlibdeps(runner) == 1
        assert entry.read_text() == '{"libc6": "libc6 (>= 2.34)"}\n'

    def test_no_cache_without_the_owners_versions(self, tmp_path):
        from giftwrap import testing
        runner = testing.RecordingRunner(
            respond=lambda call: 'shlibs:Depends=libc6 (>= 2.34)\n',
            fail={'${Package} ${Version}\n': 'no packages found'})
        assert self.relations(tmp_path, runner) == {
            'libc6': 'libc6 (>= 2.34)'}
        assert not (tmp_path / 'cache' / 'shlibs').exists()

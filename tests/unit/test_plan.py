"""The plan (giftwrap.plan.planner.make): every check before any work, on
small manifests (see tests/planutil.py: the interpreter is real, dpkg-query
and its probe are played)."""

from __future__ import annotations

import pytest

from giftwrap import errors
from giftwrap.builders import nfpm
from giftwrap.plan import planner
from tests.planutil import PYTHON, make, system


def refused(tmp_path, text: str, kind=errors.GiftwrapError, runner=None,
            **kw) -> errors.GiftwrapError:
    with pytest.raises(kind) as caught:
        make(tmp_path, text, runner, **kw)
    return caught.value


THREE = """\
    settings:
      version: '1.0'
      python: PYTHON
      builders: [nfpm-deb]
      resolver: requirements-file
    projects:
      - name: nova
      - name: glance
      - name: keystone
    """


# -- projects -----------------------------------------------------------------

def test_every_project_by_default_with_its_choices(tmp_path):
    plan = make(tmp_path, THREE)
    assert [p.project.name for p in plan.projects] == ['nova', 'glance',
                                                       'keystone']
    nova = plan.projects[0]
    assert [(c.name, c.driver) for c in nova.builders] == [
        ('nfpm-deb', nfpm.NfpmDeb)]
    assert set(nova.builders[0].options) == set(nfpm.NfpmDeb.options)
    assert nova.resolver.name == 'requirements-file'
    assert str(nova.interpreter.path) == PYTHON
    assert nova.interpreter.owner == 'python3.11-minimal'
    assert nova.targets == ()


def test_selected_projects_keep_the_manifests_order(tmp_path):
    plan = make(tmp_path, THREE, projects=['keystone', 'nova'])
    assert [p.project.name for p in plan.projects] == ['nova', 'keystone']


def test_an_unknown_project_name(tmp_path):
    error = refused(tmp_path, THREE, errors.ManifestError,
                    projects=['nova', 'glnace'])
    assert error.what == "no project 'glnace' in the manifest"
    assert error.where == '-p/--projects'
    assert error.hint == "did you mean 'glance'? projects: nova, glance, keystone"


def test_an_unknown_project_name_without_a_close_one(tmp_path):
    error = refused(tmp_path, THREE, errors.ManifestError, projects=['swift'])
    assert error.hint == 'projects: nova, glance, keystone'


def test_the_interpreter_is_asked_once_for_every_project(tmp_path):
    runner = system()
    make(tmp_path, THREE, runner)
    probes = [a for a in runner.argvs() if a[0] == PYTHON]
    assert len(probes) == 1


# -- drivers and their options ------------------------------------------------

def test_an_unknown_builder_names_its_line(tmp_path):
    error = refused(tmp_path, """\
        settings: {version: '1.0', python: PYTHON, resolver: requirements-file}
        projects:
          - name: nova
            builders: [nfpm-dbe]
        """, errors.DriverError)
    assert error.what == "unknown builder 'nfpm-dbe'"
    assert error.where == f'{tmp_path}/manifest.yml:4'
    assert "did you mean 'nfpm-deb'?" in error.hint


def test_an_unknown_resolver_names_its_line(tmp_path):
    error = refused(tmp_path, """\
        settings: {version: '1.0', python: PYTHON, builders: [nfpm-deb]}
        projects:
          - name: nova
            resolver: requirements
        """, errors.DriverError)
    assert error.what == "unknown resolver 'requirements'"
    assert error.where == f'{tmp_path}/manifest.yml:4'


def test_the_command_lines_builders_replace_the_manifests(tmp_path):
    plan = make(tmp_path, THREE, types=['nfpm-rpm'], projects=['nova'])
    assert [c.name for c in plan.projects[0].builders] == ['nfpm-rpm']
    assert plan.projects[0].project.builders == ('nfpm-rpm',)
    error = refused(tmp_path, THREE, errors.DriverError, types=['rmp'])
    assert error.what == "unknown builder 'rmp'"
    assert error.where == '-t/--type'


def test_a_builder_named_twice_is_planned_once(tmp_path):
    plan = make(tmp_path, THREE.replace('[nfpm-deb]', '[nfpm-deb, nfpm-deb]'))
    assert [c.name for c in plan.projects[0].builders] == ['nfpm-deb']


def test_an_unknown_builder_option_names_its_line(tmp_path):
    error = refused(tmp_path, """\
        settings:
          version: '1.0'
          python: PYTHON
          builders: [nfpm-deb]
          resolver: requirements-file
          builder_options:
            nfpm-deb: {compresion: xz}
        projects: [{name: nova}]
        """, errors.DriverError)
    assert error.what == "unknown option 'compresion' for nfpm-deb"
    assert error.where == f'{tmp_path}/manifest.yml:6'
    assert error.hint == "did you mean 'compression'?"


def test_a_bad_resolver_option_value_names_its_line(tmp_path):
    error = refused(tmp_path, """\
        settings:
          version: '1.0'
          python: PYTHON
          builders: [nfpm-deb]
        projects:
          - name: nova
            resolver: requirements-file
            resolver_options:
              requirements-file: {file: 3}
        """, errors.DriverError)
    assert error.what == "option 'file' of requirements-file must be a str, not int"
    assert error.where == f'{tmp_path}/manifest.yml:8'


@pytest.mark.parametrize('key, name, what, hint', [
    ('builder_options', 'nfpm-debb', "builder_options names 'nfpm-debb', "
     'which is not an installed driver', "did you mean 'nfpm-deb'? installed: "),
    ('resolver_options', 'requirement-file', "resolver_options names "
     "'requirement-file', which is not an installed driver",
     "did you mean 'requirements-file'? installed: "),
])
def test_options_of_a_driver_that_is_not_installed(tmp_path, key, name, what,
                                                   hint):
    error = refused(tmp_path, THREE.replace(
        '      resolver: requirements-file\n',
        f'      resolver: requirements-file\n      {key}: {{{name}: {{}}}}\n'),
        errors.DriverError)
    assert error.what == what
    assert error.where == f'{tmp_path}/manifest.yml:6'
    assert error.hint.startswith(hint)


def test_a_builders_own_check_is_located_at_the_builder(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path / 'empty'))  # no fpm
    error = refused(tmp_path, THREE.replace('[nfpm-deb]', '[fpm-deb]'),
                    errors.MissingToolError)
    assert error.what == 'fpm is not installed'
    assert error.where == 'builder fpm-deb (project nova)'


# -- the interpreter ----------------------------------------------------------

def test_an_interpreter_no_package_owns_is_not_run(tmp_path):
    runner = system(owned=False)
    error = refused(tmp_path, THREE, errors.ManifestError, runner)
    assert 'is no Python interpreter a system package owns' in error.what
    assert error.where == f'{tmp_path}/manifest.yml:3'
    assert f'--interpreter {PYTHON}' in error.hint
    assert [a[0] for a in runner.argvs()] == ['dpkg-query', 'rpm']  # not run


def test_a_trusted_interpreter_still_needs_a_package_for_packages(tmp_path):
    error = refused(tmp_path, THREE, errors.BuildError, system(owned=False),
                    trusted=[PYTHON])
    assert error.what.startswith(f'the interpreter {PYTHON} belongs to no '
                                 'system package')
    assert '(builders: nfpm-deb)' in error.what
    assert error.where == f'{tmp_path}/manifest.yml:3'
    assert 'distribution interpreter' in error.hint


def test_a_trusted_interpreter_must_exist(tmp_path):
    error = refused(tmp_path, THREE, errors.ManifestError,
                    trusted=[str(tmp_path / 'python3.99')])
    assert error.what == f'the interpreter {tmp_path}/python3.99 does not exist'
    assert error.where == '--interpreter'


def test_a_relative_interpreter(tmp_path):
    error = refused(tmp_path, THREE.replace('python: PYTHON', 'python: python3'),
                    errors.ManifestError)
    assert error.what == "python 'python3' is not an absolute path"
    assert error.where == f'{tmp_path}/manifest.yml:3'


def test_an_interpreter_that_does_not_exist(tmp_path):
    missing = str(tmp_path / 'python3.99')
    error = refused(tmp_path, THREE.replace('python: PYTHON',
                                            f'python: {missing}'),
                    errors.BuildError)
    assert error.what == f'the interpreter {missing} does not exist'
    assert error.where == f'{tmp_path}/manifest.yml:3'


def test_an_interpreter_that_does_not_answer_the_probe(tmp_path):
    runner = system()
    played = runner.respond
    runner.respond = lambda call: 'Hello\n' if call.argv[0] == PYTHON \
        else played(call)
    error = refused(tmp_path, THREE, errors.BuildError, runner)
    assert "did not answer giftwrap's probe" in error.what
    assert error.output == 'Hello\n'


# -- other checks before any work ---------------------------------------------

def missing_uv(tmp_path, monkeypatch) -> errors.GiftwrapError:
    from giftwrap.venv import installers
    monkeypatch.setattr(installers, 'find_tool', lambda name: None)  # no uv
    return refused(tmp_path, THREE.replace(  # keystone's, on line 10
        '  - name: keystone\n', '  - name: keystone\n        installer: uv\n'),
        errors.MissingToolError)


def test_a_missing_installer_says_how_to_get_it(tmp_path, monkeypatch):
    error = missing_uv(tmp_path, monkeypatch)
    assert error.what == 'uv is not installed'
    assert 'pip install uv' in error.hint


def test_a_missing_installer_names_its_line(tmp_path, monkeypatch):
    error = missing_uv(tmp_path, monkeypatch)
    assert error.where == f'{tmp_path}/manifest.yml:10'


def test_patches_need_gnu_patch(tmp_path, monkeypatch):
    (tmp_path / 'fix.patch').write_text('--- a/x\n+++ b/x\n')
    # GNU patch is installed here: the plan must not find it
    monkeypatch.setattr(planner, 'find_tool', lambda name: None)
    error = refused(tmp_path, THREE.replace(
        '  - name: nova\n', '  - name: nova\n        patches: [fix.patch]\n'),
        errors.MissingToolError)
    assert error.what == "GNU patch is needed to apply the project's patches"
    assert error.where == f'{tmp_path}/manifest.yml:8'
    assert error.hint == 'apt-get install patch'


def test_a_values_check_names_its_line(tmp_path):
    error = refused(tmp_path, THREE.replace(
        '  - name: nova\n', "  - name: nova\n        extras: ['ldap]']\n"),
        errors.ManifestError)
    assert "'ldap]' is not an extra name" in error.what
    assert error.where == f'{tmp_path}/manifest.yml:8'


def test_a_target_needs_a_builder_of_its_format(tmp_path):
    error = refused(tmp_path, THREE.replace('  - name: nova\n', (
        "  - name: nova\n        targets: [{name: el9, image: 'rockylinux:9', "
        "format: rpm}]\n")), errors.ManifestError)
    assert error.what == ('no builder of the project makes rpm packages for '
                          'target el9')
    assert error.where == f'{tmp_path}/manifest.yml:8'
    assert error.hint == 'add nfpm-rpm to builders'


def test_a_bad_target_names_its_line(tmp_path):
    error = refused(tmp_path, THREE.replace('  - name: nova\n', (
        '  - name: nova\n        targets: [{name: el9, format: rpm}]\n')),
        errors.ManifestError)
    assert error.what.startswith('a target must have name, image and format')
    assert error.where == f'{tmp_path}/manifest.yml:8'


def test_nothing_is_written(tmp_path):
    make(tmp_path, THREE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['manifest.yml']

"""Values the package would refuse are refused with the manifest.

package.describe and the builders check these once the virtualenv is built;
validate, --dry-run and the start of a build run the same checks first.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from giftwrap import errors

COMMANDS = [('validate', '-m'), ('build', '--dry-run', '-m')]

CASES = {
    'install_path command': ({'install_path': '/opt/$(id)'},
                             "install_path '/opt/$(id)' is not a plain"),
    'install_path space': ({'install_path': '/opt/my app'},
                           "install_path '/opt/my app' is not a plain"),
    'user': ({'user': 'root;id'}, "user 'root;id' is not a valid system"),
    'group': ({'user': 'nova', 'group': 'a b'}, "group 'a b' is not"),
    'directory /etc': ({'user': 'nova', 'directories': ['/etc']},
                       'directory /etc is a system directory'),
    'directory /var/lib': ({'user': 'nova', 'directories': ['/var/lib']},
                           'directory /var/lib is a system directory'),
    'directory /usr/share/doc': (
        {'user': 'nova', 'directories': ['/usr/share/doc']},
        'directory /usr/share/doc is a system directory'),
    'directory /': ({'user': 'nova', 'directories': ['/']},
                    "directory '/' is not a plain absolute path"),
    'directory ..': ({'user': 'nova', 'directories': ['/var/lib/../../etc']},
                     'is not a plain absolute path'),
    'unit ..': ({'systemd_units': {'../../etc/evil.service': 'x\n'}},
                'is not a systemd unit file name'),
    'unit /': ({'systemd_units': {'a/b.service': 'x\n'}},
               'is not a systemd unit file name'),
    'sudoers ..': ({'sudoers': {'..': 'x\n'}},
                   'is not a usable /etc/sudoers.d file name'),
    'sudoers /': ({'sudoers': {'a/b': 'x\n'}},
                  'is not a usable /etc/sudoers.d file name'),
    'config path': ({'config_templates': {'/etc/../x': 'x\n'}},
                    'is not a plain absolute path'),
    'link_executables': ({'link_executables': '/usr/$(id)'},
                         'is not a plain absolute path'),
    'maintainer newline': ({'maintainer': 'Ops <o@example.com>\nDepends: x'},
                           'contains a control character'),
    'summary newline': ({'summary': 'one\ntwo'},
                        'contains a control character'),
    'extras ]': ({'extras': ['ldap]', 'x']}, "'ldap]' is not an extra name"),
    'templated pip dependency': (
        {'pip_dependencies': ['{{ "-" }}-index-url=http://evil/']},
        "'pip_dependencies' lists '--index-url=http://evil/'"),
    'relation': ({'conflicts': ['a | b']}, 'is not "name" or "name OP'),
    'epoch': ({'epoch': -1}, 'epoch -1 is negative'),
}


def manifest(tmp_path, values, builders='nfpm-deb') -> str:
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(f"""\
        settings: {{version: '1.0', builders: [{builders}]}}
        projects:
          - name: nova
            giturl: /nonexistent/nova
        """) + ''.join(f'    {k}: {json.dumps(v)}\n' for k, v in values.items()))
    return str(path)


@pytest.mark.parametrize('command', COMMANDS)
@pytest.mark.parametrize('case', sorted(CASES))
def test_refused_before_any_work(cli, tmp_path, case, command):
    values, message = CASES[case]
    result = cli(*command, manifest(tmp_path, values))
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert message in result.stderr
    # the line of the key at fault: the case's last
    assert f'manifest.yml:{4 + len(values)}:' in result.stderr, result.stderr
    assert 'hint:' in result.stderr and 'Traceback' not in result.stderr


@pytest.mark.parametrize('builders', ['fpm-deb', 'nfpm-rpm'])
def test_every_packager_refuses_a_maintainer_newline(
        cli, tmp_path, builders, monkeypatch):
    from giftwrap.package.builder import Builder
    monkeypatch.setattr(Builder, 'check_tools', classmethod(lambda c, o: None))
    result = cli('validate', '-m', manifest(
        tmp_path, {'maintainer': 'a\nb'}, builders=builders))
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert 'control character' in result.stderr


def test_good_service_values_pass(cli, tmp_path):
    result = cli('validate', '-m', manifest(tmp_path, {
        'user': 'nova', 'directories': ['/var/lib/nova', '/var/log/nova'],
        'systemd_units': {'nova-api.service': '[Service]\n'},
        'sudoers': {'nova': 'nova ALL=(root) NOPASSWD: /bin/true\n'},
        'extras': ['ldap'], 'install_path': '/opt/nova/{{ project.name }}',
        'maintainer': 'Ops <ops@example.com>'}))
    assert result.status == 0, result.stderr

"""Signing with GPG: rpm packages, and the metadata of apt and yum repositories.

The operator names a key (a fingerprint, key id or user id) that is in the
GnuPG home directory (``gnupg_home``, else ``$GNUPGHOME``, else
``~/.gnupg``); its passphrase, if any, is gpg-agent's business.  Every
command runs through the project's :class:`~giftwrap.util.process.Runner`, the
key always as the value of an option, never where it could be read as one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from giftwrap import errors
from giftwrap.util.process import Runner, base_environment, find_tool

#: The Debian package that provides each tool, for the hint.
APT_PACKAGES = {'gpg': 'gpg', 'rpmsign': 'rpm', 'rpm': 'rpm',
                'createrepo_c': 'createrepo-c', 'dpkg-deb': 'dpkg',
                'dpkg': 'dpkg', 'apt-ftparchive': 'apt-utils'}
#: What a key name may contain.  rpm expands macros (``%{...}``, even
#: ``%(command)``) in ``--define`` values and quotes break popt's parsing,
#: so anything beyond a fingerprint, an id or a plain user id is refused.
_KEY = re.compile(r'^[A-Za-z0-9][A-Za-z0-9 @._+<>=:-]*\Z')
# Signatures apt and rpm accept for years to come (gpg's default may be
# SHA-1 for old keys, which apt refuses).
_DIGEST = 'SHA512'


def tool(name: str) -> str:
    """The path of ``name``, or a :class:`MissingToolError` naming its package.

    :raises giftwrap.errors.MissingToolError: it is not installed.
    """
    found = find_tool(name)
    if found is None:
        package = APT_PACKAGES.get(name, name)
        raise errors.MissingToolError(
            f'{name} is not installed', where=name,
            hint=f'install the {package} package (apt-get install {package})')
    return found


def check_key(key: str) -> str:
    """Refuse a key name that is not a fingerprint, key id or user id.

    :raises giftwrap.errors.BuildError: it holds quotes, ``%`` or control
        characters, or starts with something other than a letter or digit.
    """
    if not _KEY.match(key or '') or len(key) > 200:
        raise errors.BuildError(
            f'{key!r} is not a GPG key name giftwrap accepts',
            where='signing key',
            hint='give the key\'s fingerprint (gpg --list-secret-keys '
                 '--with-colons shows it)')
    return key


def environment(gnupg_home: Path | str | None = None) -> dict[str, str]:
    """The environment of gpg and rpmsign: the minimal one plus GNUPGHOME."""
    env = base_environment()
    home = gnupg_home or os.environ.get('GNUPGHOME')
    if home:
        env['GNUPGHOME'] = str(Path(home).resolve())
    return env


def _gpg(key: str | None, gnupg_home) -> tuple[list[str], dict[str, str]]:
    argv = [tool('gpg'), '--batch', '--yes', '--no-tty']
    if key is not None:
        argv += ['--local-user', check_key(key), '--digest-algo', _DIGEST]
    return argv, environment(gnupg_home)


def check_secret_key(key: str, runner: Runner,
                     gnupg_home: Path | str | None = None) -> None:
    """Fail early, and clearly, when ``key`` has no secret key to sign with.

    :raises giftwrap.errors.BuildError: gpg knows no secret key ``key``.
    :raises giftwrap.errors.MissingToolError: gpg is not installed.
    """
    check_key(key)
    argv, env = _gpg(None, gnupg_home)
    result = runner.run(argv + ['--list-secret-keys', '--', key],
                        env=env, check=False, what='gpg --list-secret-keys')
    if result.returncode != 0:
        home = env.get('GNUPGHOME', '~/.gnupg')
        raise errors.BuildError(
            f'no secret key {key!r} to sign with', where=f'GnuPG home {home}',
            output=result.tail(),
            hint='import the key there (gpg --import) or name the GnuPG '
                 'home that holds it')


def sign_rpm(path: Path, key: str, runner: Runner,
             gnupg_home: Path | str | None = None) -> None:
    """Sign the rpm at ``path`` in place with ``key`` (``rpmsign --addsign``).

    :param path: the package; it is rewritten with the signature added.
    :param key: the GPG key's fingerprint, id or user id.
    :param gnupg_home: the GnuPG home holding the secret key.
    :raises giftwrap.errors.MissingToolError: rpmsign or gpg is missing.
    :raises giftwrap.errors.BuildError: there is no such secret key.
    :raises giftwrap.errors.CommandError: signing failed.
    """
    check_secret_key(key, runner, gnupg_home)
    gpg = tool('gpg')
    if '%' in gpg:  # a macro in the path would be expanded
        raise errors.MissingToolError(
            f'gpg\'s path {gpg} holds a %', hint='install gpg elsewhere')
    # Debian's rpm names /usr/bin/gpg2, which no longer exists: name gpg.
    runner.run([tool('rpmsign'), '--define', f'__gpg {gpg}',
                '--define', f'_gpg_name {key}',
                '--define', f'_gpg_digest_algo {_DIGEST.lower()}',
                '--addsign', '--', str(Path(path).resolve())],
               env=environment(gnupg_home), what='rpmsign --addsign')


def detach_sign(path: Path, output: Path, key: str, runner: Runner, *,
                gnupg_home: Path | str | None = None,
                armor: bool = True) -> Path:
    """Write a detached signature of ``path`` to ``output``.

    :param armor: ASCII-armored (``repomd.xml.asc``), else binary.
    :returns: ``output``.
    :raises giftwrap.errors.CommandError: gpg failed.
    """
    argv, env = _gpg(key, gnupg_home)
    argv += ['--armor'] if armor else []
    runner.run(argv + ['--output', str(output), '--detach-sign', '--',
                       str(path)], env=env, what='gpg --detach-sign')
    return output


def clearsign(path: Path, output: Path, key: str, runner: Runner, *,
              gnupg_home: Path | str | None = None) -> Path:
    """Write ``path`` with an inline signature to ``output`` (``InRelease``).

    :returns: ``output``.
    :raises giftwrap.errors.CommandError: gpg failed.
    """
    argv, env = _gpg(key, gnupg_home)
    runner.run(argv + ['--output', str(output), '--clearsign', '--',
                       str(path)], env=env, what='gpg --clearsign')
    return output


def export_public_key(key: str, output: Path, runner: Runner, *,
                      gnupg_home: Path | str | None = None,
                      armor: bool = False) -> Path:
    """Write ``key``'s public key to ``output``.

    A binary export is a keyring apt's ``signed-by=`` reads; an armored one
    is what ``rpm --import`` and yum's ``gpgkey=`` take.

    :returns: ``output``.
    :raises giftwrap.errors.CommandError: gpg failed.
    """
    argv, env = _gpg(None, gnupg_home)
    argv += ['--armor'] if armor else []
    runner.run(argv + ['--output', str(output), '--export', '--',
                       check_key(key)], env=env, what='gpg --export')
    if not output.is_file() or output.stat().st_size == 0:
        raise errors.BuildError(f'gpg exported no public key {key!r}',
                                where=str(output),
                                hint='check the name with gpg --list-keys')
    return output

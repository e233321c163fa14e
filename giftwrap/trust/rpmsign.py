"""Signing rpm packages with the operator's GPG key, before they are published.

rpm verifies package signatures itself (``rpm -K``, dnf's ``gpgcheck``), so
both rpm builders sign with ``rpmsign`` when ``gpg_key`` is set; the output
directory never holds an unsigned rpm that should have been signed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from giftwrap.trust import signing
from giftwrap.plugins import Option

OPTIONS = {
    'gpg_key': Option(str, None, help='sign the rpm with this GPG key '
                      '(fingerprint, id or user id) using rpmsign'),
    'gnupg_home': Option(str, None, help='the GnuPG home holding that key '
                         '(default: gpg\'s own)'),
}


class Signed:
    """Mixin for rpm builders: ``gpg_key`` and ``gnupg_home`` options."""

    @classmethod
    def check_tools(cls, options: Mapping[str, object]) -> None:
        super().check_tools(options)
        if options.get('gpg_key'):
            signing.check_key(str(options['gpg_key']))
            signing.tool('rpmsign')
            signing.tool('gpg')

    def before_publish(self, built: Path) -> None:
        key = self.context.options.get('gpg_key')
        if key:
            signing.sign_rpm(built, str(key), self.context.runner,
                             self.context.options.get('gnupg_home'))

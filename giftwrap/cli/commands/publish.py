"""``giftwrap publish``: signed apt and yum repositories of built packages."""

from __future__ import annotations

from pathlib import Path

from cliff import lister

from giftwrap.cli.commands import QuickHelp
from giftwrap.util.process import Runner


def _words(value: str | None) -> tuple[str, ...]:
    return tuple(w.strip() for w in (value or '').split(',') if w.strip())


class Publish(QuickHelp, lister.Lister):
    """Add an output directory's packages to a signed apt and yum repository."""

    examples = (('signed repositories of a build\'s packages',
                 'giftwrap publish out --repo /srv/repo --gpg-key '
                 'ops@example.org'),)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('output_dir', metavar='OUTPUT_DIR',
                            help='the build\'s output directory (only read)')
        parser.add_argument('--repo', required=True, metavar='DIR',
                            help='the repository directory: made, or added '
                                 'to (rebuilt beside and swapped in whole)')
        parser.add_argument('--keep', type=int, metavar='N',
                            help='keep only the N newest versions of each '
                                 'package, as dpkg and rpm order versions '
                                 '(default: every version)')
        parser.add_argument('--gpg-key', metavar='KEYID',
                            help='sign Release, InRelease and repomd.xml '
                                 'with this key (fingerprint or user id)')
        parser.add_argument('--gnupg-home', metavar='DIR',
                            help='the GnuPG home holding the key (default: '
                                 '$GNUPGHOME, else ~/.gnupg)')
        parser.add_argument('--suite', default='stable',
                            help='the apt suite (default: %(default)s)')
        parser.add_argument('--component', default='main',
                            help='the apt component (default: %(default)s)')
        parser.add_argument('--origin', default='giftwrap',
                            help='Origin of the apt Release file')
        parser.add_argument('--label', default='giftwrap',
                            help='Label of the apt Release file')
        parser.add_argument('--architectures', metavar='ARCH[,...]',
                            help='apt architectures to index (default: the '
                                 'host\'s and the packages\' own)')
        return parser

    def take_action(self, parsed_args):
        from giftwrap.trust import repository  # only when publishing
        options = repository.Options(
            suite=parsed_args.suite, component=parsed_args.component,
            origin=parsed_args.origin, label=parsed_args.label,
            architectures=_words(parsed_args.architectures),
            key=parsed_args.gpg_key,
            gnupg_home=Path(parsed_args.gnupg_home)
            if parsed_args.gnupg_home else None, keep=parsed_args.keep)
        entries = repository.publish(Path(parsed_args.output_dir),
                                     Path(parsed_args.repo), options,
                                     Runner())
        return (('Format', 'Package', 'Version', 'Architecture', 'File',
                 'Status'),
                [(e.format, e.package, e.version, e.arch, e.path, e.status)
                 for e in entries])

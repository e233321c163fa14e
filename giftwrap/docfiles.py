"""Debian policy documentation files: DEP-5 copyright and changelog.

Builders call these to produce /usr/share/doc/<package>/copyright and
changelog.Debian.gz from build facts alone, so output is deterministic.
"""
import email
import gzip
import io
import logging
import time

LOG = logging.getLogger(__name__)

FORMAT = 'https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/'
SHORT_NAMES = {
    'mit': 'Expat', 'mit license': 'Expat', 'expat': 'Expat',
    'apache 2.0': 'Apache-2.0', 'apache-2.0': 'Apache-2.0',
    'apache software license': 'Apache-2.0',
    'apache license, version 2.0': 'Apache-2.0',
    'bsd': 'BSD-3-clause', 'bsd-3-clause': 'BSD-3-clause',
    'bsd license': 'BSD-3-clause', 'bsd-2-clause': 'BSD-2-clause',
    'gplv2+': 'GPL-2+', 'gpl-2.0-or-later': 'GPL-2+',
    'psf': 'PSF-2.0', 'python software foundation license': 'PSF-2.0',
    'mpl-2.0': 'MPL-2.0', 'lgpl-2.1-or-later': 'LGPL-2.1+',
}
COMMON = ('Apache-2.0', 'GPL-', 'LGPL-', 'BSD', 'Artistic', 'MPL-')


def short_name(metadata_text):
    """Return the DEP-5 short name for a dist-info METADATA text."""
    msg = email.message_from_string(metadata_text)
    candidates = [msg.get('License-Expression'), msg.get('License')]
    for classifier in msg.get_all('Classifier') or []:
        if classifier.startswith('License ::'):
            candidates.append(classifier.split('::')[-1].strip())
    for value in candidates:
        name = SHORT_NAMES.get((value or '').strip().lower())
        if name:
            return name
    LOG.debug('no DEP-5 short name among %s', candidates)
    return 'unknown'


def needs_text(name):
    """Whether the license text is absent from /usr/share/common-licenses."""
    return not name.startswith(COMMON)


def copyright_file(project, licenses, texts):
    """Render DEP-5 text; licenses maps file glob -> (copyright, name)."""
    out = ['Format: %s' % FORMAT, 'Upstream-Name: %s' % project, '']
    for files in sorted(licenses):
        holder, name = licenses[files]
        out += ['Files: %s' % files, 'Copyright: %s' % holder,
                'License: %s' % name, '']
    for name in sorted(set(n for _, n in licenses.values())):
        if needs_text(name) and name in texts:
            body = [' ' + (ln if ln.strip() else '.')
                    for ln in texts[name].strip().splitlines()]
            out += ['License: %s' % name] + body + ['']
    return '\n'.join(out).rstrip('\n') + '\n'


def changelog_gz(package, version, facts, epoch):
    """Return gzipped Debian changelog bytes (no name, mtime 0)."""
    date = time.strftime('%a, %d %b %Y %H:%M:%S +0000',
                         time.gmtime(int(epoch)))
    lines = ['%s (%s) unstable; urgency=medium' % (package, version), '']
    lines += ['  * %s: %s' % (k, facts[k]) for k in sorted(facts)]
    lines += ['', ' -- giftwrap <giftwrap@localhost>  %s' % date, '']
    buf = io.BytesIO()
    with gzip.GzipFile(filename='', mode='wb', fileobj=buf, mtime=0) as gz:
        gz.write('\n'.join(lines).encode())
    return buf.getvalue()

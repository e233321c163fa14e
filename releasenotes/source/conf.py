# giftwrap's release notes: reno reads releasenotes/notes from the git
# history (tox -e releasenotes).  Plain Sphinx; nothing fetched at build.

project = 'giftwrap Release Notes'
copyright = 'giftwrap developers'

extensions = [
    'reno.sphinxext',
]

master_doc = 'index'
exclude_patterns = []
pygments_style = 'sphinx'
html_theme = 'alabaster'

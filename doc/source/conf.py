# giftwrap's documentation: plain Sphinx, built offline with warnings as
# errors (tox -e docs).  The command reference is generated from the cliff
# commands giftwrap registers (cliff.sphinxext), so it cannot drift from
# the code.

project = 'giftwrap'
copyright = 'giftwrap developers'

extensions = [
    'cliff.sphinxext',
]

# autoprogram-cliff: the commands of the giftwrap.commands namespace, shown
# as "giftwrap <command>".
autoprogram_cliff_application = 'giftwrap'
autoprogram_cliff_app_dist_name = 'giftwrap'

master_doc = 'index'
exclude_patterns = []
pygments_style = 'sphinx'
# alabaster ships with Sphinx: no theme to download, nothing fetched at build.
html_theme = 'alabaster'
html_theme_options = {
    'description': 'versioned virtualenv packages of OpenStack and other '
                   'Python projects',
}

"""Sphinx configuration of the book's website; `make site` runs site/build.py, which stages the sources
and calls Sphinx with this file. The pages are the stored notebooks, never re-executed."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REPOSITORY = PYPROJECT["project"]["urls"]["Repository"]  # the one place the repository's address is kept
BRANCH = "main"

project = "Trainable Depth"
author = "The Trainable Depth authors"
extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["README.md"]  # included in index.md, not a page of its own

# The notebooks as stored: their outputs and widget state are the page.
nb_execution_mode = "off"
nb_output_stderr = "show"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# Everything the pages load is served by the site itself (build.py copies it from npm packages).
html_static_path = ["_static", str(ROOT / "build" / "site" / "assets")]
html_css_files = ["book.css"]
mathjax_path = "mathjax/tex-chtml.js"
nb_ipywidgets_js = {"widgets/require.js": {}, "widgets-paths.js": {}, "widgets/embed-amd.js": {}}

html_title = "Trainable Depth"
html_theme = "sphinx_book_theme"
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": BRANCH,
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
    "show_toc_level": 2,
}
html_context = {"default_mode": "light"}  # an unset mode makes the theme log a console error
mathjax_config_path = "mathjax_config.js"  # ipywidgets expects MathJax 2's API; see the file

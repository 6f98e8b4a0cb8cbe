"""Sphinx configuration of neuroai's documentation (``make docs``).

Before Sphinx reads the sources, ``docs/_generated/`` receives an API page
per public module and a copy of every notebook; the notebooks are executed
while building (``NEUROAI_DOCS_FAST=1`` skips that, for the test that checks
the build). The gallery pages come from ``docs/gallery.py``.
"""
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import neuroai  # noqa: E402

project = "neuroai"
author = "The neuroai contributors"
copyright = "2026, The neuroai contributors"
release = version = neuroai.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax", "sphinx.ext.viewcode", "myst_nb"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
html_theme = "furo"
html_title = f"neuroai {release}"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
napoleon_google_docstring = False

FAST = os.environ.get("NEUROAI_DOCS_FAST") == "1"
nb_execution_mode = "off" if FAST else "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True

#: Public modules: every module of the package whose name has no leading underscore.
SKIP = {"neuroai.studies"}


def public_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "neuroai").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if any(p.startswith("_") for p in parts) or any(name.startswith(s) for s in SKIP):
            continue
        names.append(name)
    return names


def _generate() -> None:
    out = DOCS / "_generated"
    shutil.rmtree(out, ignore_errors=True)
    (out / "api").mkdir(parents=True)
    modules = public_modules()
    for name in modules:
        title = f"``{name}``"
        (out / "api" / f"{name}.rst").write_text(f"{title}\n{'=' * len(title)}\n\n.. automodule:: {name}\n")
    toc = "\n".join(f"   {name}" for name in modules)
    (out / "api" / "index.rst").write_text(f"API reference\n=============\n\nEvery public module, from its "
                                           f"docstrings.\n\n.. toctree::\n   :maxdepth: 1\n\n{toc}\n")
    from neuroai.backends import matrix_table

    (out / "capabilities.md").write_text(matrix_table() + "\n")
    (out / "notebooks").mkdir()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copyfile(notebook, out / "notebooks" / notebook.name)


def _gallery(out: Path) -> None:
    """One page per study: its description, and the table and figures of its latest quick run
    (``docs/gallery.py`` makes them)."""
    from gallery import latest_run

    from neuroai import cli

    (out / "gallery").mkdir()
    names = list(cli.discover())
    for name, path in cli.discover().items():
        text = [f"# {name}", "", cli.plain_text(cli.description(path)), "",
                f"`neuroai run {name} [--quick]`; source: `simulations/{name}.py`.", ""]
        run = latest_run(name)
        if run is None:
            text.append("*No quick run yet: `python docs/gallery.py` runs it.*")
        else:
            (out / "gallery" / name).mkdir()
            summary = (run / "summary.md").read_text().split("\n", 1)[1]  # (its title is the page's)
            figures = sorted(run.glob("*.png"))
            for figure in figures:
                shutil.copyfile(figure, out / "gallery" / name / figure.name)
                summary = summary.replace(f"]({figure.name})", f"]({name}/{figure.name})")
            text.append(f"From a quick run (`--quick`, seed 0):\n\n{summary}")
            text += [f"![{f.stem}]({name}/{f.name})" for f in figures if f"{name}/{f.name}" not in summary]
        (out / "gallery" / f"{name}.md").write_text("\n".join(text) + "\n")
    toc = "\n".join(names)
    (out / "gallery" / "index.md").write_text(f"# Gallery of studies\n\nEach study of `simulations/`, with the "
                                              f"table and figures of a quick run.\n\n```{{toctree}}\n"
                                              f":maxdepth: 1\n\n{toc}\n```\n")


sys.path.insert(0, str(DOCS))
_generate()
_gallery(DOCS / "_generated")

"""The documentation: every public function and class has a docstring, the
site builds without a warning (API reference from the docstrings, guides,
gallery pages, notebooks; executing the notebooks is left to ``make docs``
and to tests/test_notebooks.py), and the code in its pages runs."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _public_definitions():
    """(where, has a docstring) of every public function, class and method of a public class."""
    for path in sorted((ROOT / "neuroai").rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if any(p.startswith("_") and p != "__init__.py" for p in parts) or "studies" in parts:
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", ast.get_docstring(node) is not None
                if isinstance(node, ast.ClassDef):
                    for member in node.body:
                        if isinstance(member, ast.FunctionDef) and not member.name.startswith("_"):
                            yield (f"{path.relative_to(ROOT)}:{member.lineno} {node.name}.{member.name}",
                                   ast.get_docstring(member) is not None)


def test_docstring_coverage_of_the_public_api_is_at_least_95_percent():
    found = list(_public_definitions())
    missing = [where for where, documented in found if not documented]
    assert len(found) > 500
    assert 1 - len(missing) / len(found) >= 0.95, f"{len(missing)} of {len(found)} undocumented: {missing[:20]}"


def test_the_site_builds_without_warnings(tmp_path):
    env = {**os.environ, "NEUROAI_DOCS_FAST": "1"}
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
                           str(tmp_path / "html")], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    html = tmp_path / "html"
    api = (html / "_generated" / "api" / "neuroai.network.html").read_text()
    assert "add_population" in api and "Network" in api
    assert (html / "_generated" / "notebooks" / "custom_models.html").is_file()
    assert (html / "_generated" / "gallery" / "stdp_window.html").is_file()
    assert (html / "concepts" / "numerical_semantics.html").is_file()


@pytest.mark.parametrize("page", sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
                                        if "_build" not in p.parts and "_generated" not in p.parts))
def test_the_python_code_of_each_page_runs(page, tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, page, "exec"), namespace)

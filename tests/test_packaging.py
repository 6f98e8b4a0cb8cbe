"""neuroai as a user installs it: a wheel built from the repository, installed
into a fresh virtual environment outside the checkout, gives a working
``neuroai`` command with every study; the project files a library ships."""
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import neuroai
from neuroai import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder of a fresh venv holding the wheel, the wheel, a folder outside the checkout). The venv
    reaches the dependencies already installed here through a path file, so nothing is downloaded."""
    tmp = tmp_path_factory.mktemp("packaging")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist")], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("neuroai-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   capture_output=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # (a path file's paths come after the venv's own: the wheel's neuroai, not this checkout's, is imported)
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    outside = tmp / "elsewhere"
    outside.mkdir()
    return venv / "bin", wheel, outside


def _run(bin_dir, outside, *args, timeout=600):
    return subprocess.run([str(bin_dir / "neuroai"), *args], cwd=outside, capture_output=True, text=True,
                          timeout=timeout, env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(outside),
                                                "MPLBACKEND": "Agg"})


def test_the_wheel_carries_every_study_the_licence_and_the_type_marker(installed):
    _, wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    studies = {Path(n).stem for n in names if n.startswith("neuroai/studies/") and n.endswith(".py")}
    assert studies == set(cli.discover())
    assert "neuroai/py.typed" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)


def test_the_installed_command_knows_its_version_and_lists_every_study(installed):
    bin_dir, _, outside = installed
    version = _run(bin_dir, outside, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"neuroai {neuroai.__version__}"
    listed = _run(bin_dir, outside, "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(cli.discover())
    imported = subprocess.run([str(bin_dir / "python"), "-c", "import neuroai; print(neuroai.__file__)"],
                              cwd=outside, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in imported, "the checkout's neuroai was imported, not the wheel's"


def test_the_installed_command_runs_a_study_outside_the_checkout(installed):
    bin_dir, _, outside = installed
    done = _run(bin_dir, outside, "run", "stdp_window", "--quick", "--out", str(outside / "runs"))
    assert done.returncode == 0, done.stderr[-2000:]
    (run_dir,) = (outside / "runs" / "stdp_window").iterdir()
    for name in ("config.json", "metrics.csv", "summary.md"):
        assert (run_dir / name).stat().st_size > 0, name


def test_one_version_and_the_project_files():
    assert re.fullmatch(r"\d+\.\d+\.\d+", neuroai.__version__)
    assert 'dynamic = ["version"]' in (ROOT / "pyproject.toml").read_text()
    citation = (ROOT / "CITATION.cff").read_text()
    assert f"version: {neuroai.__version__}\n" in citation
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert f"## [{neuroai.__version__}]" in (ROOT / "CHANGELOG.md").read_text()
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for topic in ("## A neuron model", "## A learning rule", "## A study", "## A backend"):
        assert topic in contributing


def test_the_readme_lists_every_extra():
    import tomllib

    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| extra |"):].split("\n\n")[0]
    listed = set(re.findall(r"^\| `(\w+)` \| ", table, re.M))
    assert listed == extras

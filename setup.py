"""Packaging hook (the rest is in pyproject.toml): the studies, which live in
``simulations/`` at the top of the repository, travel inside the wheel as
``neuroai/studies/`` so that ``neuroai list`` and ``neuroai run`` find them in
any installation (see ``neuroai.cli.simulations_dir``)."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithStudies(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads simulations/ in place
            return
        target = Path(self.build_lib, "neuroai", "studies")
        target.mkdir(parents=True, exist_ok=True)
        for script in sorted(Path(__file__).parent.joinpath("simulations").glob("*.py")):
            shutil.copyfile(script, target / script.name)


setup(cmdclass={"build_py": BuildWithStudies})

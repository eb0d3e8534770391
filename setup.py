"""Build step: a built wheel carries the project files as package data under ``pipelines/_data/``.

``data_contracts/``, ``dbt_project/`` and ``expectations/`` stay at the top of the repository;
``pipelines.settings`` finds them there in a checkout and in ``pipelines/_data/`` once installed.
Everything else is configured in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROJECT_FILES = ("data_contracts", "dbt_project", "expectations", "dagster.yaml")
SKIP = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__", "*.pyc", ".user.yml")


class BuildWithProjectFiles(build_py):
    """``build_py`` plus a copy of the project files into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout itself
            return
        dest = Path(self.build_lib) / "pipelines" / "_data"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for name in PROJECT_FILES:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, dest / name, ignore=SKIP)
            else:
                shutil.copy2(src, dest / name)


setup(cmdclass={"build_py": BuildWithProjectFiles})

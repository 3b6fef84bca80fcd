"""Binder's recipe, rehearsed offline: a fresh environment from ``binder/environment.yml``,
then ``binder/postBuild``, then a chapter run with nbval in that environment.

Binder builds with conda; here the same package list is installed with pip into a new virtual
environment (every package we list has the same name on PyPI and conda-forge). JupyterLab, the
interface Binder opens, is left out: executing a notebook does not need it.
"""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.binder

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "00_quick_tour.ipynb"


def _binder_requirements():
    env = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())
    requirements = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            requirements += dep["pip"]
        elif not dep.startswith(("python", "pip", "jupyterlab")):
            requirements.append(dep)
    return requirements


def test_binder_environment_runs_a_chapter(tmp_path):
    env_dir = tmp_path / "binder-env"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    python = bin_dir / "python"

    def run(*command, **kwargs):
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    run(python, "-m", "pip", "install", "--quiet", *_binder_requirements(), "nbval", "pytest")
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("PYTHONPATH", None)
    run("bash", str(ROOT / "binder" / "postBuild"), cwd=ROOT, env=environment)
    # gmmlib must come from the new environment, not from this checkout's editable install.
    located = run(python, "-c", "import gmmlib, sys; print(gmmlib.__file__)", cwd=tmp_path, env=environment)
    assert str(env_dir) in located.stdout
    run(python, "-m", "pytest", "--nbval", str(CHAPTER), "-p", "no:cacheprovider", "-q",
        "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"), cwd=tmp_path, env=environment)

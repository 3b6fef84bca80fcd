"""Checks of the project's configuration: the things that break silently for readers."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPOSITORY_URL = CONFIG["repository"]["url"]


def _pyproject():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirement_name(requirement):
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _conda_names(path):
    """Package names an environment file lists, conda and pip sections together."""
    env = yaml.safe_load(path.read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_requirement_name(d) for d in dep["pip"] if not d.startswith("-e")}
        else:
            names.add(_requirement_name(dep))
    return names - {"python", "pip", "jupyterlab"}


def _notebook_cells(path):
    return json.loads(path.read_text())["cells"]


def test_jupyter_book_is_pinned_below_2():
    book_extra = _pyproject()["project"]["optional-dependencies"]["book"]
    assert any(r.startswith("jupyter-book") and "<2" in r for r in book_extra)
    for env in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        assert re.search(r"jupyter-book[^\n]*<2", env.read_text()), env


def test_environment_files_match_pyproject():
    project = _pyproject()["project"]
    wanted = {_requirement_name(r) for r in project["dependencies"]}
    wanted |= {_requirement_name(r) for r in project["optional-dependencies"]["book"]}
    wanted |= {_requirement_name(r) for r in project["optional-dependencies"]["scale"]}
    assert _conda_names(ROOT / "environment.yml") == wanted
    assert _conda_names(ROOT / "binder" / "environment.yml") == wanted


def test_environment_installs_gmmlib():
    assert "- -e ." in (ROOT / "environment.yml").read_text()
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install" in post_build and " ." in post_build
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_launch_buttons_point_at_main():
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["execute"]["raise_on_error"] is True
    assert {"binderhub_url", "colab_url"} <= set(CONFIG["launch_buttons"])


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for notebook in NOTEBOOKS:
        assert f"notebooks/{notebook.stem}" in toc, f"{notebook.name} is not in _toc.yml"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_installs_gmmlib_on_colab_only(notebook):
    first_code = next(c for c in _notebook_cells(notebook) if c["cell_type"] == "code")
    source = "".join(first_code["source"])
    assert 'if "google.colab" in sys.modules' in source
    match = re.search(r'gmmlib @ git\+(\S+?)"', source)
    assert match, "the Colab cell must install gmmlib from the repository"
    assert match.group(1) == REPOSITORY_URL, "the Colab cell must install from _config.yml's repository"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_executed_and_clean(notebook):
    code = [c for c in _notebook_cells(notebook) if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in code]
    assert None not in counts, "every code cell must be saved executed (nbval compares only those)"
    assert counts == sorted(counts), "execute the notebook top to bottom before committing"
    for cell in code:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"saved with an error: {''.join(cell['source'])[:80]}"
            if output.get("name") == "stderr":
                text = "".join(output["text"])
                assert "Warning" not in text, f"a Python warning is printed: {text[:200]}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_one_title_and_figures_have_captions(notebook):
    cells = _notebook_cells(notebook)
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    markdown = re.sub(r"```.*?```", "", markdown, flags=re.S)
    assert len(re.findall(r"^# ", markdown, flags=re.M)) == 1, "one `# Title` per notebook"
    for cell in cells:
        has_image = any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
        if has_image:
            mystnb = cell["metadata"].get("mystnb", {})
            assert mystnb.get("image", {}).get("alt"), f"figure without alt text: {''.join(cell['source'])[:80]}"
            assert mystnb.get("figure", {}).get("caption"), f"figure without caption: {''.join(cell['source'])[:80]}"


def _make_targets_run_by_make_test():
    """Targets `make test` runs, found by following the Makefile's prerequisites from `test`."""
    rules = {}
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([a-z][a-z0-9-]*):(?!=)\s*(.*)$", line)
        if match:
            rules[match.group(1)] = match.group(2).split()
    reached, todo = set(), ["test"]
    while todo:
        target = todo.pop()
        if target in rules and target not in reached:
            reached.add(target)
            todo += rules[target]
    return reached


@pytest.mark.parametrize("workflow", sorted((ROOT / ".github" / "workflows").glob("*.yml")), ids=lambda p: p.name)
def test_workflows_parse_and_run_only_make_targets_ci_runs(workflow):
    spec = yaml.safe_load(workflow.read_text())
    triggers = spec.get(True, spec.get("on"))  # YAML 1.1 reads the key `on` as True
    assert triggers, "a workflow needs triggers"
    exercised = _make_targets_run_by_make_test()
    for job in spec["jobs"].values():
        for step in job.get("steps", []):
            if "run" in step:
                command = step["run"].strip()
                match = re.fullmatch(r"make ([a-z-]+)", command)
                assert match, f"workflow steps run make targets only, not {command!r}"
                assert match.group(1) in exercised, f"`{command}` is not exercised by `make test`"


def test_publishing_workflow_runs_on_main_and_weekly_rebuild_is_scheduled():
    book = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    assert book[True]["push"]["branches"] == ["main"]
    weekly = yaml.safe_load((ROOT / ".github" / "workflows" / "weekly.yml").read_text())
    assert weekly[True]["schedule"][0]["cron"]

"""The student edition (book/_tools/student_edition.py): no solutions, all exercises, and the
self-checks fail cleanly on the empty templates.

Each chapter is a parameter of its own, so `pytest -n 2` executes two student notebooks at a
time. The full notebooks, solutions included, are tested by nbval (`make test-notebooks`).
"""

import ast
import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

# The notebook tools come with the `test` extra; `make test-oldest` runs without them.
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TOOL = ROOT / "book" / "_tools" / "student_edition.py"

_spec = importlib.util.spec_from_file_location("student_edition", TOOL)
student_edition = importlib.util.module_from_spec(_spec)
sys.modules["student_edition"] = student_edition
_spec.loader.exec_module(student_edition)

# Directive fences, found independently of the tool's own parser.
EXERCISE_LABEL = re.compile(r"^`{3,}\{exercise(?:-start)?\}[^\n]*\n(?:.*\n)*?:label:\s*(\S+)", re.M)
SOLUTION_MARKER = re.compile(r"^[`~]{3,}\{solution(?:-start|-end)?\}", re.M)


def _full(path):
    return nbformat.read(path, as_version=4)


def _student(path):
    student, _ = student_edition.student_notebook(_full(path))
    return student


def _solution_cells(nb):
    """Indices of the cells that lie entirely between a solution-start and a solution-end."""
    inside, cells = False, []
    for i, cell in enumerate(nb.cells):
        markers = re.findall(r"\{solution-(start|end)\}", cell.source) if cell.cell_type == "markdown" else []
        if inside and not markers:
            cells.append(i)
        for marker in markers:
            inside = marker == "start"
    return cells


def _unparsed(source):
    """A code cell normalised by ast (IPython magics, which ast cannot parse, made ``pass``)."""
    lines = [line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
             for line in source.splitlines()]
    return ast.unparse(ast.parse("\n".join(lines)))


def _body(function):
    """The source of a function's body without its docstring, normalised by ast."""
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return "\n".join(ast.unparse(statement) for statement in body)


def _solution_functions(nb):
    """(name, body source without docstring) of every function a solution code cell defines."""
    found = []
    for i in _solution_cells(nb):
        cell = nb.cells[i]
        if cell.cell_type != "code":
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef):
                found.append((node.name, _body(node)))
    return found


def _template_cells(nb):
    return [c for c in nb.cells if "template_for" in c.metadata.get(student_edition.TEMPLATE_KEY, {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_is_left(path):
    full, student = _full(path), _student(path)
    text = "\n".join(cell.source for cell in student.cells)
    assert not SOLUTION_MARKER.search(text) and "{solution" not in text, "a solution marker is left"

    # No solution function keeps its body: the functions of the templates are bare stubs, and no
    # solution's function body appears anywhere in the student's code.
    student_code = ast.parse("\n".join(_unparsed(c.source) for c in student.cells if c.cell_type == "code"))
    student_bodies = {_body(node) for node in ast.walk(student_code) if isinstance(node, ast.FunctionDef)}
    for name, body in _solution_functions(full):
        assert body not in student_bodies, f"the body of the solution's {name} is in the student notebook"
    for cell in _template_cells(student):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.FunctionDef):
                assert _body(node) == "raise NotImplementedError('Your code here')", node.name

    # No solution code cell and no line of solution prose survives.
    for i in _solution_cells(full):
        cell = full.cells[i]
        if cell.cell_type == "code":
            assert all(cell.source.strip() != c.source.strip() for c in student.cells), cell.source[:80]
        else:
            for line in cell.source.splitlines():
                if len(line.strip()) > 40:
                    assert line not in text, line


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_and_chapter_are_kept(path):
    full, student = _full(path), _student(path)
    full_md = "\n".join(c.source for c in full.cells if c.cell_type == "markdown")
    student_md = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    assert EXERCISE_LABEL.findall(student_md) == EXERCISE_LABEL.findall(full_md)
    for directive in ("{exercise}", "{exercise-start}", "{exercise-end}"):
        assert student_md.count(directive) == full_md.count(directive), directive

    # Every code cell outside the solutions is there, in order, unchanged.
    solution_cells = set(_solution_cells(full))
    kept = [c.source for i, c in enumerate(full.cells) if c.cell_type == "code" and i not in solution_cells]
    inserted = {id(c) for c in _template_cells(student)}
    assert [c.source for c in student.cells if c.cell_type == "code" and id(c) not in inserted] == kept

    # Clean: no outputs, no execution counts, no execution timings.
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        assert "execution" not in cell.metadata
    nbformat.validate(student)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_coding_solution_becomes_a_template(path):
    full, student = _full(path), _student(path)
    solution_checks = sum(
        1 for i in _solution_cells(full) if full.cells[i].cell_type == "code"
        for node in ast.parse(full.cells[i].source).body
        if student_edition._is_check_call(node)
    )
    template_checks = sum(len(re.findall(r"^gmmlib\.checks\.check_\w+\(", c.source, re.M)) for c in _template_cells(student))
    assert template_checks == solution_checks
    notes = [c for c in student.cells if "note_for" in c.metadata.get(student_edition.TEMPLATE_KEY, {})]
    assert len(notes) == len(_template_cells(student))
    assert all(n.source.startswith("Solution: see the book") for n in notes)


def test_the_tool_writes_the_folder_and_the_zip(tmp_path):
    import zipfile

    written, zip_path = student_edition.write_student_edition(ROOT / "notebooks", tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    assert zip_path.name == "gaussian-mixtures-exercises.zip"
    names = zipfile.ZipFile(zip_path).namelist()
    assert sorted(names) == sorted(
        [f"gaussian-mixtures-exercises/{p.name}" for p in NOTEBOOKS] + ["gaussian-mixtures-exercises/README.md"]
    )
    first = zip_path.read_bytes()
    student_edition.write_student_edition(ROOT / "notebooks", tmp_path)
    assert zip_path.read_bytes() == first, "the zip is not reproducible"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_runs_and_checks_say_not_implemented(path, tmp_path, monkeypatch):
    """Executed as a student gets it: only the template cells fail, each with a clean message."""
    from nbclient import NotebookClient

    student = _student(path)
    monkeypatch.setenv("GMMLIB_PROGRESS", "0")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    client = NotebookClient(student, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(cwd=str(tmp_path), env=dict(os.environ))

    templates = {id(c) for c in _template_cells(student)}
    problems = []
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        expects_check = id(cell) in templates and re.search(r"^gmmlib\.checks\.check_\w+\(", cell.source, re.M)
        if expects_check:
            if not errors or errors[0].ename != "SelfCheckError" or "not implemented yet" not in errors[0].evalue:
                got = f"{errors[0].ename}: {errors[0].evalue}" if errors else "no error"
                problems.append(f"template cell {index} should end in 'not implemented yet', got {got}")
        elif errors:
            problems.append(f"cell {index} failed: {errors[0].ename}: {errors[0].evalue}\n{cell.source[:200]}")
    assert not problems, "\n".join(problems)


def test_exercises_page_quotes_real_self_check_messages(capsys):
    """book/exercises.md shows three messages of check_update_centres: they must be the real ones."""
    import numpy as np

    import gmmlib.checks

    page = (ROOT / "book" / "exercises.md").read_text()
    quoted = re.findall(r"```text\n(.*?)\n```", page, re.S)

    def not_written(X, labels, n_clusters):
        raise NotImplementedError("Your code here")

    def sums_only(X, labels, n_clusters):
        return np.eye(n_clusters)[labels].T @ X

    def right(X, labels, n_clusters):
        gamma = np.eye(n_clusters)[labels]
        return gamma.T @ X / gamma.sum(axis=0)[:, None]

    for wrong in (not_written, sums_only):
        wrong.__name__ = "update_centres"
        with pytest.raises(gmmlib.checks.SelfCheckError) as error:
            gmmlib.checks.check_update_centres(wrong)
        assert f"SelfCheckError: {error.value}" in quoted
    gmmlib.checks.check_update_centres(right)
    assert capsys.readouterr().out.strip() in quoted
    assert len(quoted) == 3


def test_template_from_a_solution():
    """The patterns of the chapters' solutions, in one made-up solution."""
    solution = student_edition.Solution(label="chXX_ex1", code=[
        'from scipy.special import logsumexp\n\n\n'
        'def e_step(X, weights,\n           means):\n    """Responsibilities."""\n    a = np.log(weights)\n    return a\n\n\n'
        'def _helper(x):\n    return x\n\n\n'
        'gmmlib.checks.check_e_step(e_step)\n'
        'ours = e_step(X, w, m)\n',
        'def e_step_naive(X):\n    return X\n\n\n'
        'try:\n    gmmlib.checks.check_e_step(e_step_naive)\nexcept gmmlib.checks.SelfCheckError:\n    pass\n'
        'value = 3\ngmmlib.checks.check_value(value)\n',
    ])
    template = student_edition.make_template(solution, shown_names={"_other"})
    assert template == (
        'from scipy.special import logsumexp\n\n\n'
        'def e_step(X, weights,\n           means):\n    """Responsibilities."""\n'
        '    raise NotImplementedError("Your code here")\n\n\n'
        'gmmlib.checks.check_e_step(e_step)\n'
        '# once you have computed value:\n# gmmlib.checks.check_value(value)\n'
    )
    compile(template, "template", "exec")
    no_function = student_edition.Solution(label="chXX_ex2", code=["print(1 + 1)\n"])
    assert student_edition.make_template(no_function, set()) == "# Your code here\n"

"""Write the student edition of the chapter notebooks: every exercise, no solution.

Usage (from the repository root)::

    python book/_tools/student_edition.py OUTDIR [--notebooks notebooks]

For every ``notebooks/*.ipynb`` this writes ``OUTDIR/<same name>.ipynb`` in which

* every solution is gone: the gated ``{solution-start} <label>`` ... ``{solution-end}`` runs of
  cells (markdown and code, also when a marker shares a markdown cell with other text) and any
  plain ``{solution}`` directive;
* every exercise, and everything outside the solutions, is kept as it is;
* for every removed solution that had code, one code cell is inserted where the solution was,
  for the student to fill in: the solution's imports, a template of each function the exercise
  asks for (the same signature and docstring, body ``raise NotImplementedError("Your code
  here")``, derived with :mod:`ast`) and the solution's self-check calls
  (``gmmlib.checks.check_...(function)``), then a short markdown note "Solution: see the book".
  Run as it is, the cell ends in the self-check's ``SelfCheckError`` saying that the function is
  "not implemented yet"; once the student's function is right, it prints "Correct! ...".
  A coding solution without any function (a short experiment) gets an empty cell;
* all outputs, execution counts and execution timings are cleared.

It also writes ``OUTDIR/README.md`` (how to run the notebooks) and
``OUTDIR/gaussian-mixtures-exercises.zip`` holding the notebooks and the README in a folder
``gaussian-mixtures-exercises/``. The zip is byte-for-byte reproducible (fixed timestamps).

A function counts as asked for when the solution passes it to a self-check, or when the notebook
shows ``def <name>(`` outside the solutions (the exercise's template). Other functions of a
solution (demonstrations such as a deliberately naive version) are removed with it. A self-check
call whose argument is a variable that only the solution computes is kept as a comment, so the
template cell does not fail on a missing name.

Only the standard library and ``nbformat`` are needed.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ZIP_NAME = "gaussian-mixtures-exercises.zip"
FOLDER_NAME = "gaussian-mixtures-exercises"
TEMPLATE_KEY = "student_edition"  # cell metadata of the inserted cells
STUB_BODY = 'raise NotImplementedError("Your code here")'

# The opening line of a MyST directive fence, e.g. "```{solution-start} ch04_ex2".
_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|~{3,})\{(?P<name>[\w-]+)\}\s*(?P<arg>.*?)\s*$")


@dataclass
class Solution:
    """One removed solution: its label, its markdown text and its code cells' sources."""

    label: str
    markdown: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Finding the solutions in a notebook's markdown
# --------------------------------------------------------------------------------------------

def _closing_line(lines, start, fence):
    """Index of the line closing the fence opened at ``lines[start]`` (or the last line)."""
    char, width = fence[0], len(fence)
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= width:
            return i
    return len(lines) - 1


def _scan_markdown(source):
    """Split a markdown cell into events, in order.

    Returns a list of ``("text", str)`` (text outside and inside solutions alike),
    ``("start", label)``, ``("end", None)`` and ``("solution", text)`` (a whole plain
    ``{solution}`` directive). The fences of the gated markers themselves are dropped.
    """
    lines = source.split("\n")
    events, text, i = [], [], 0
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i])
        name = match and match["name"]
        if name in ("solution-start", "solution-end", "solution"):
            if text:
                events.append(("text", "\n".join(text)))
                text = []
            end = _closing_line(lines, i, match["fence"])
            if name == "solution-start":
                events.append(("start", match["arg"].split()[0] if match["arg"] else "?"))
            elif name == "solution-end":
                events.append(("end", None))
            else:
                events.append(("solution", "\n".join(lines[i:end + 1])))
            i = end + 1
        else:
            text.append(lines[i])
            i += 1
    if text:
        events.append(("text", "\n".join(text)))
    return events


# --------------------------------------------------------------------------------------------
# Templates from solution code
# --------------------------------------------------------------------------------------------

def _is_check_call(node):
    """True for a statement ``<anything>.check_xxx(...)`` or ``check_xxx(...)``."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name.startswith("check_")


def _function_template(source, node):
    """The header (decorators, signature) and docstring of ``node``, with a stub body."""
    lines = source.split("\n")
    first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    body = node.body
    has_docstring = (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )
    indent = " " * body[0].col_offset
    if body[0].lineno == node.lineno:  # "def f(): return 1" on one line
        header = lines[first:node.lineno - 1] + [lines[node.lineno - 1][:body[0].col_offset].rstrip()]
        indent = " " * (node.col_offset + 4)
        kept = header
    else:
        kept = lines[first:body[0].lineno - 1]
        if has_docstring:
            kept += lines[body[0].lineno - 1:body[0].end_lineno]
    return "\n".join(kept + [indent + STUB_BODY])


def _bound_names(tree):
    """Names that a piece of code assigns, defines or imports at any level."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def make_template(solution: Solution, shown_names: set[str]) -> str:
    """The code cell that replaces a coding solution (see the module docstring)."""
    trees = [(src, ast.parse(src)) for src in solution.code]
    defined = set().union(*(_bound_names(tree) for _, tree in trees))
    checks = [node for _, tree in trees for node in tree.body if _is_check_call(node)]
    checked = {
        arg.id for node in checks for arg in node.value.args + [k.value for k in node.value.keywords]
        if isinstance(arg, ast.Name)
    }
    wanted = checked | shown_names

    imports, functions, templated, check_lines = [], [], set(), []
    for src, tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(ast.get_source_segment(src, node))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in wanted:
                functions.append(_function_template(src, node))
                templated.add(node.name)
    for src, tree in trees:
        for node in tree.body:
            if not _is_check_call(node):
                continue
            call = ast.get_source_segment(src, node)
            used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            missing = (used & defined) - templated
            if missing:  # it checks something only the solution computes
                check_lines.append(f"# once you have computed {', '.join(sorted(missing))}:")
                check_lines.extend("# " + line for line in call.split("\n"))
            else:
                check_lines.append(call)

    if not functions and not check_lines:
        return "# Your code here\n"
    parts = []
    if imports:
        parts.append("\n".join(dict.fromkeys(imports)))  # each import once, in order
    parts.extend(functions)
    if check_lines:
        parts.append("\n".join(check_lines))
    return "\n\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# The notebook transformation
# --------------------------------------------------------------------------------------------

def _names_shown_outside_solutions(events):
    """Function names that appear as ``def name(`` in markdown outside the solutions."""
    shown, inside = set(), False
    for kind, value, _ in events:
        if kind == "start":
            inside = True
        elif kind == "end":
            inside = False
        elif kind == "text" and not inside:
            shown |= set(re.findall(r"\bdef\s+(\w+)\s*\(", value))
    return shown


def _notebook_events(nb):
    """The notebook as a flat event list: (kind, value, cell) with kind text/start/end/solution/code."""
    events = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            events.extend((kind, value, cell) for kind, value in _scan_markdown(cell.source))
        else:
            events.append(("code" if cell.cell_type == "code" else "raw", cell.source, cell))
    return events


def student_notebook(nb):
    """Return ``(student_nb, solutions)`` for a notebook node; ``nb`` is not modified."""
    events = _notebook_events(nb)
    shown = _names_shown_outside_solutions(events)

    out_cells, solutions = [], []
    current = None                 # the Solution being removed, or None
    pending_text = []              # kept markdown text of the current original cell
    pending_cell = None
    pieces_of_cell = {}            # original cell id -> number of markdown cells made from it

    def flush_markdown():
        nonlocal pending_text, pending_cell
        text = "\n".join(pending_text).strip("\n")
        if pending_cell is not None and text.strip():
            n = pieces_of_cell.get(pending_cell.get("id"), 0)
            pieces_of_cell[pending_cell.get("id")] = n + 1
            cell = nbformat.v4.new_markdown_cell(text, metadata=dict(pending_cell.metadata))
            cell.id = pending_cell.get("id", cell.id) if n == 0 else f"{pending_cell.get('id')}-{n}"
            if pending_cell.get("attachments"):  # images pasted into the markdown
                cell.attachments = pending_cell.attachments
            out_cells.append(cell)
        pending_text, pending_cell = [], None

    for kind, value, cell in events:
        if pending_cell is not None and cell is not pending_cell:
            flush_markdown()
        if kind == "start":
            current = Solution(label=value)
        elif kind == "end":
            if current is None:
                raise ValueError(f"{{solution-end}} without {{solution-start}} in cell {cell.get('id')}")
            flush_markdown()
            solutions.append(current)
            if current.code:
                out_cells.extend(_template_cells(current, shown))
            current = None
        elif kind == "solution":
            solutions.append(Solution(label="(plain solution directive)", markdown=[value]))
        elif current is not None:  # inside a solution: remove
            (current.code if kind == "code" else current.markdown).append(value)
        elif kind == "text":
            pending_text.append(value)
            pending_cell = cell
        else:  # a code or raw cell outside the solutions: keep, without outputs
            out_cells.append(_cleared(cell))
    flush_markdown()
    if current is not None:
        raise ValueError(f"solution {current.label} has no {{solution-end}}")

    student = nbformat.v4.new_notebook(metadata=_cleared_metadata(nb.metadata))
    student.nbformat, student.nbformat_minor = nb.nbformat, nb.nbformat_minor
    student.cells = out_cells
    return student, solutions


def _template_cells(solution, shown):
    code = nbformat.v4.new_code_cell(make_template(solution, shown).rstrip("\n"))
    code.id = f"student-{solution.label}"[:64]
    code.metadata[TEMPLATE_KEY] = {"template_for": solution.label}
    note = nbformat.v4.new_markdown_cell(
        f"Solution: see the book. The solution to Exercise {solution.label} is folded under the "
        "exercise on this chapter's page."
    )
    note.id = f"student-{solution.label}-note"[:64]
    note.metadata[TEMPLATE_KEY] = {"note_for": solution.label}
    return [code, note]


def _cleared(cell):
    cell = nbformat.from_dict(dict(cell))
    cell.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items() if k != "execution"})
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _cleared_metadata(metadata):
    return nbformat.from_dict({k: v for k, v in metadata.items() if k in ("kernelspec", "language_info")})


# --------------------------------------------------------------------------------------------
# The folder and the zip
# --------------------------------------------------------------------------------------------

def _repository_url(root):
    try:
        import yaml

        return yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"]
    except Exception:  # noqa: BLE001 - the README is still useful without the address
        return None


def readme(repository_url):
    install = (
        f'    python -m pip install "gmmlib @ git+{repository_url}" jupyterlab ipywidgets\n'
        if repository_url else "    python -m pip install gmmlib jupyterlab ipywidgets\n"
    )
    return (
        "# Gaussian Mixtures: the exercises\n\n"
        "These are the chapters of the course *Gaussian Mixtures, from One Bell Curve to Generated\n"
        "Digits* with the solutions taken out. Each coding exercise has a code cell for you to fill\n"
        "in: replace `raise NotImplementedError(\"Your code here\")` with your code and run the cell.\n"
        "The self-check at its end tests your function on fresh random inputs and says in plain\n"
        "words what is wrong, or \"Correct!\". The solutions are in the book, folded under each\n"
        "exercise.\n\n"
        "Run the notebooks in Jupyter, with the course's package `gmmlib` installed:\n\n"
        + install +
        "    jupyter lab\n\n"
        "On Colab, the first code cell of each notebook installs `gmmlib` for you.\n"
    )


def write_zip(out_dir, files):
    """Zip ``files`` (paths inside ``out_dir``) into ``out_dir/ZIP_NAME``, reproducibly."""
    path = out_dir / ZIP_NAME
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(files):
            info = zipfile.ZipInfo(f"{FOLDER_NAME}/{file.name}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, file.read_bytes())
    return path


def write_student_edition(notebook_dir, out_dir):
    """Write every notebook's student copy, the README and the zip; return the written paths."""
    notebook_dir, out_dir = Path(notebook_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(notebook_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        student, _ = student_notebook(nb)
        nbformat.validate(student)
        target = out_dir / path.name
        nbformat.write(student, target)
        written.append(target)
    if not written:
        raise SystemExit(f"no notebooks found in {notebook_dir}")
    readme_path = out_dir / "README.md"
    readme_path.write_text(readme(_repository_url(notebook_dir.resolve().parent)))
    zip_path = write_zip(out_dir, written + [readme_path])
    return written, zip_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir", type=Path, help="folder to write the student notebooks into")
    parser.add_argument("--notebooks", type=Path, default=Path(__file__).resolve().parents[2] / "notebooks",
                        help="folder of the chapter notebooks (default: the repository's notebooks/)")
    args = parser.parse_args(argv)
    written, zip_path = write_student_edition(args.notebooks, args.outdir)
    print(f"wrote {len(written)} student notebooks and {zip_path}")


if __name__ == "__main__":
    sys.exit(main())

"""Record what the book was built with and how its notebooks ran, for the status page.

- ``build-info`` renders the Python version and the versions of the packages the chapters run on,
  read from the environment doing the build.
- ``nbval-report`` renders, per notebook, the cells nbval executed and compared, the time they
  took and the result, read from the JUnit report that ``make test`` writes
  (``_build/nbval-report.xml``) before it builds the book from the verified outputs.
"""

import platform
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from importlib import metadata
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

PACKAGES = ["gmmlib", "numpy", "scipy", "scikit-learn", "matplotlib", "pandas", "ipywidgets",
            "jupyter-book", "sphinx", "myst-nb"]


def _version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _table(header, rows):
    def row_node(cells):
        row = nodes.row()
        for text in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=str(text))
            row += entry
        return row

    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    group += [nodes.colspec(colwidth=1) for _ in header]
    head = nodes.thead()
    head += row_node(header)
    group += head
    body = nodes.tbody()
    for cells in rows:
        body += row_node(cells)
    group += body
    return table


class BuildInfo(SphinxDirective):
    """Render the build environment as a two-column table."""

    def run(self):
        rows = [("Python", platform.python_version())] + [(p, _version(p)) for p in PACKAGES]
        return [_table(("Package", "Version"), rows)]


class NbvalReport(SphinxDirective):
    """Render nbval's per-notebook results, if ``make test`` left a report."""

    def run(self):
        report = Path(self.env.srcdir) / "_build" / "nbval-report.xml"
        if not report.exists():
            text = "No nbval report in this build: it was built by `make book`, which executes the notebooks itself."
            return [nodes.paragraph(text=text)]
        cells, seconds, failed = defaultdict(int), defaultdict(float), defaultdict(int)
        for case in ElementTree.parse(report).iter("testcase"):
            # nbval names a cell's test case after its file: classname "notebooks.NN_slug.ipynb"
            notebook = case.get("classname", "").removeprefix("notebooks.")
            cells[notebook] += 1
            seconds[notebook] += float(case.get("time", 0))
            failed[notebook] += any(child.tag in ("failure", "error") for child in case)
        rows = [(name, cells[name], f"{seconds[name]:.1f}", "passed" if not failed[name] else f"{failed[name]} failed")
                for name in sorted(cells)]
        return [_table(("Notebook", "Cells checked", "Time (s)", "Result"), rows)]


def setup(app):
    app.add_directive("build-info", BuildInfo)
    app.add_directive("nbval-report", NbvalReport)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

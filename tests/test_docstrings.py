"""Every example in gmmlib's docstrings runs and prints what it says (numpydoc Examples)."""

import doctest
import importlib
import pkgutil

import matplotlib
import pytest

import gmmlib

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(gmmlib.__path__, prefix="gmmlib.")
    if name != "gmmlib.benchmark"  # a command-line program; `make bench` runs it
)


@pytest.mark.parametrize("module_name", ["gmmlib", *MODULES])
def test_docstring_examples(module_name):
    matplotlib.use("Agg")
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module_name}"

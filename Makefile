# Two commands for a newcomer: `make book` and `make test`. Everything else is a helper.
# Nothing here relies on anything installed by hand: the virtual environment, the Python
# packages and (for the browser test) Debian's Chromium are installed on demand.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_SYSTEM ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
BUILD := _build
HTML := $(BUILD)/html
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
SANITIZE := tests/nbval_sanitize.cfg
# Progress bars are for people at a keyboard, not for committed outputs or the built book.
export GMMLIB_PROGRESS := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1
ROOT_OR_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install book pdf notebooks test test-lib test-notebooks test-book test-binder test-oldest student book-verified browser-deps bench clean

help:
	@echo "make book   - create .venv, execute every chapter and build the book and its PDF edition (prints where to open it)"
	@echo "make pdf    - print the PDF edition (whole book + one PDF per chapter) from the site already built"
	@echo "make test   - everything CI checks: gmmlib tests, nbval on every notebook, the strict book build, the built-site checks"
	@echo "make notebooks - re-execute every notebook in place (commit the outputs afterwards)"
	@echo "make student - the student edition (notebooks without solutions) in _build/html/student"
	@echo "make test-oldest - gmmlib's tests against the lowest dependency versions we allow"
	@echo "make bench  - gmmlib against scikit-learn, same data and initialisation, same run"
	@echo "make clean  - remove builds and caches (keeps .venv)"

$(STAMP): pyproject.toml
	@[ -x $(PY) ] || $(PYTHON_SYSTEM) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test,scale]"
	@touch $(STAMP)

install: $(STAMP)

# Executes every notebook afresh (execute_notebooks: force in _config.yml; a failing cell fails
# the build) and treats every warning as an error; one OpenMP/BLAS thread, as the committed
# outputs were made (see `notebooks`).
book: export OMP_NUM_THREADS := 1
book: install browser-deps
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(PY) book/_tools/student_edition.py $(HTML)/student
	$(PY) book/_tools/print_pdf.py --html $(HTML)
	@echo
	@echo "Built $$(find $(HTML) -name '*.html' -not -path '*/_static/*' -not -name 'search.html' -not -name 'genindex.html' | wc -l) pages."
	@echo "Open file://$(CURDIR)/$(HTML)/index.html (the PDFs are in $(HTML)/pdf/)"

# The PDF edition, printed from the built site by Debian's Chromium (the browser test's), with
# MathJax typesetting from a local copy: _build/html/pdf/gaussian-mixtures.pdf (the whole book,
# page numbers running through, cross-references as links inside it) and one PDF per page of
# _toc.yml, linked from each page's download menu. Chosen over Jupyter Book's LaTeX builder
# because it keeps every output as the site shows it (tables, the animation's first frame),
# where LaTeX falls back to plain text or "<IPython.core.display.HTML object>" for outputs that
# only have an HTML form, and because it needs no TeX Live (~140 MB to download, ~420 MB on disk)
# and prints a chapter in seconds. Prints pages, size and time per PDF.
pdf: install browser-deps
	$(PY) book/_tools/print_pdf.py --html $(HTML)

# For authors: re-execute notebooks in place so the committed outputs are current.
# `make notebooks NB=notebooks/04_deriving_em.ipynb` re-executes one. Widget state is not saved:
# the widgets need a live kernel, and the book removes their outputs.
NB ?= $(NOTEBOOKS)
# One OpenMP/BLAS thread, as nbval runs them (test-notebooks): a nearly degenerate model (chapter
# 11's AIC choice) prints different digits when a multi-threaded BLAS sums in another order.
notebooks: export OMP_NUM_THREADS := 1
notebooks: install
	@for nb in $(NB); do echo "executing $$nb"; \
	  (cd notebooks && ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	     --ExecutePreprocessor.timeout=300 --ExecutePreprocessor.record_timing=False \
	     --ExecutePreprocessor.store_widget_state=False "$$(basename $$nb)"); done

test: install browser-deps test-lib test-notebooks test-book test-binder test-oldest

# Two pytest workers on two cores: one thread each, or OpenMP (k-means) and BLAS threads
# oversubscribe the machine and spend their time waiting for each other.
test-lib: export OMP_NUM_THREADS := 1
test-lib: install
	$(BIN)/pytest tests -m "not book and not binder" -n 2 -p no:cacheprovider

# nbval re-executes every notebook and compares the outputs with the committed ones.
test-notebooks: export OMP_NUM_THREADS := 1
test-notebooks: install
	@mkdir -p $(BUILD)
	$(BIN)/pytest --nbval $(NOTEBOOKS) --nbval-sanitize-with $(SANITIZE) --junitxml=$(BUILD)/nbval-report.xml \
	  -n 2 --dist loadscope -p no:cacheprovider

# The strict build, from the outputs nbval has just verified (so each notebook runs once per
# test run), the PDF edition, then the checks of the built site and the PDFs: pages, links,
# launch buttons, a real browser, accessibility in light and dark mode.
test-book: book-verified student pdf
	$(BIN)/pytest tests -m book -n 2 -p no:cacheprovider
	@cat $(BUILD)/page-weights.txt $(BUILD)/pdf-report.txt

book-verified: install
	@mkdir -p $(BUILD)
	@# The same configuration with execution off; paths in it are relative to the file, so made absolute.
	$(PY) -c "import os, yaml; c = yaml.safe_load(open('_config.yml')); c['execute']['execute_notebooks'] = 'off'; \
	  c['sphinx']['local_extensions'] = {k: os.path.abspath(v) for k, v in c['sphinx']['local_extensions'].items()}; \
	  yaml.safe_dump(c, open('$(BUILD)/_config.verified.yml', 'w'), sort_keys=False)"
	$(BIN)/jupyter-book build . --config $(BUILD)/_config.verified.yml -W -n --keep-going --all

# The student edition: every chapter without its solutions, plus a zip, in the built site where
# the "Download the exercises" link of book/exercises.md points.
student: install
	$(PY) book/_tools/student_edition.py $(HTML)/student

# gmmlib's tests with the lowest versions pyproject.toml allows, in an environment of their own:
# uv's lowest-direct resolution puts each dependency at its floor (their own dependencies at the
# newest that fit). Not the notebooks: their printed numbers may legitimately change between
# versions. gmmlib comes from the work tree (PYTHONPATH), so nothing is built or written there.
OLDEST := $(BUILD)/venv-oldest
test-oldest: export OMP_NUM_THREADS := 1
test-oldest:
	rm -rf $(OLDEST)
	$(PYTHON_SYSTEM) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet uv
	$(OLDEST)/bin/uv pip compile pyproject.toml --resolution lowest-direct --python $(OLDEST)/bin/python \
	  --quiet --no-header --output-file $(OLDEST)/lowest.txt
	$(OLDEST)/bin/uv pip install --python $(OLDEST)/bin/python --quiet -r $(OLDEST)/lowest.txt \
	  pytest pytest-xdist hypothesis pyyaml
	@echo "testing with $$($(OLDEST)/bin/python --version) and" \
	  $$(grep -E '^(numpy|scipy|scikit-learn|matplotlib|pandas|threadpoolctl)==' $(OLDEST)/lowest.txt)
	PYTHONPATH=$(CURDIR) $(OLDEST)/bin/python -m pytest tests -m "not book and not binder" -n 2 -p no:cacheprovider -q

# Binder's recipe (binder/environment.yml + postBuild) in a fresh environment, running a chapter.
test-binder: install
	$(BIN)/pytest tests -m binder -p no:cacheprovider

# Debian's Chromium (the browser test, the accessibility test and the PDF edition) and Poppler's
# pdftotext/pdfimages (the PDF checks).
browser-deps:
	@command -v chromium >/dev/null && command -v pdftotext >/dev/null || { $(ROOT_OR_SUDO) apt-get update -qq && \
	  $(ROOT_OR_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium poppler-utils >/dev/null; }

bench: install
	$(PY) -m gmmlib.benchmark --scale

clean:
	rm -rf $(BUILD) .pytest_cache .hypothesis notebooks/.ipynb_checkpoints
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

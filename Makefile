# Two entry points (see README): `make book` builds the site and its PDF, `make test` runs every check.
# Both start from nothing but python3 and pip: the virtual environment is created on demand, and the
# Debian packages the PDF (TeX) and the browser test (Chromium) need are installed when missing
# (scripts/install_system_deps.sh; as root with apt-get, else it says what to install).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Strict builds: every Sphinx warning and every notebook cell error fails (-n -W, raise_on_error).
JB := $(BIN)/jupyter-book build -n -W --keep-going
# Where the site links the whole book's PDF (book/_ext/site_assets.py: PDF_NAME).
SITE_PDF := _build/html/implicit-bias-adamw.pdf

.PHONY: book html pdf test pytest site-test book-fresh bench clean install lab help

help:
	@echo "make book   - install (into $(VENV)) and build the site, every notebook executed, and the book's PDF, into _build/html/"
	@echo "make html   - the site only (no TeX needed; its 'book .pdf' link then points at nothing)"
	@echo "make pdf    - the book as one PDF (Jupyter Book's LaTeX route, xelatex), copied into the site"
	@echo "make test   - install, run the package tests, build the book afresh, then test the site in Chromium"
	@echo "              and execute every chapter's downloadable .ipynb from a scratch folder"
	@echo "make lab    - JupyterLab on the chapters (open a book/*.md as a notebook: jupytext is installed)"
	@echo "make bench  - run the benchmarks in bench/ (optimizer step, PTB gradient, build times; ~20 min)"
	@echo "make clean  - remove _build/"

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

book: html pdf

# Every page is read and executed afresh (--all, and the execution cache emptied first), so an
# edit to src/ is never hidden by Sphinx's incremental build; `make pdf` then reuses the runs.
html: $(STAMP)
	rm -rf _build/.jupyter_cache
	$(JB) --all .
	@echo "Site built: _build/html/index.html"

pdf: $(STAMP)
	bash scripts/install_system_deps.sh tex
	$(JB) --builder pdflatex .
	$(BIN)/python scripts/check_latex_log.py _build/latex/book.log
	mkdir -p _build/html
	cp _build/latex/book.pdf $(SITE_PDF)
	@echo "PDF built: _build/latex/book.pdf (linked from the site as $(SITE_PDF))"

# The book built from scratch: no stale doctrees or execution cache can hide a broken chapter.
book-fresh: $(STAMP)
	rm -rf _build
	$(MAKE) book

# Unit tests; tests/site needs the built site and runs in site-test.
pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 src tests --ignore=tests/site

# The reader's checks on the built site: every page in Chromium at 1280 and 390 px, offline, and
# every chapter's downloadable .ipynb executed from a folder outside the repository.
site-test: $(STAMP)
	[ "$$IMPLICIT_BIAS_SKIP_BROWSER" = 1 ] || bash scripts/install_system_deps.sh browser
	$(BIN)/python -m pytest -n 2 --dist loadgroup tests/site

test: pytest book-fresh site-test

lab: $(STAMP)
	$(BIN)/jupyter lab book/

# Benchmarks report ratios against a baseline measured in the same run; results in bench/results/.
bench: $(STAMP)
	$(BIN)/python bench/bench_optim.py
	$(BIN)/python bench/bench_monitor.py
	$(BIN)/python bench/bench_ptb.py
	$(BIN)/python bench/build_times.py

clean:
	rm -rf _build

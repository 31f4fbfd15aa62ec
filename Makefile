# Two entry points (see README): `make book` builds the site, `make test` runs every check.
# Both start from nothing but python3 and pip: the virtual environment is created on demand.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: book test pytest book-fresh bench clean install help

help:
	@echo "make book   - install (into $(VENV)) and build the site, every notebook executed, into _build/html/"
	@echo "make test   - install, run the package tests, then build the book afresh (a failing chapter fails)"
	@echo "make bench  - run the benchmarks in bench/ (optimizer step, PTB gradient, build times; ~20 min)"
	@echo "make clean  - remove _build/"

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build -n -W --keep-going .
	@echo "Site built: _build/html/index.html"

# The book built from scratch: no stale doctrees or execution cache can hide a broken chapter.
book-fresh: $(STAMP)
	rm -rf _build
	$(BIN)/jupyter-book build -n -W --keep-going .

pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 src tests

test: pytest book-fresh

# Benchmarks report ratios against a baseline measured in the same run; results in bench/results/.
bench: $(STAMP)
	$(BIN)/python bench/bench_optim.py
	$(BIN)/python bench/bench_ptb.py
	$(BIN)/python bench/build_times.py

clean:
	rm -rf _build

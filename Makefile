# Everything starts from a fresh clone with only Python 3.11: the first target that
# needs the environment creates .venv and installs the pinned packages into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
A ?= A5
JOBS ?= $(shell nproc)

.PHONY: course install browser book release demo autograde merge test solutions-outputs lint format clean

course: book release demo  ## the main job: build the book, release assignments, grade a demo class

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[course,dev]"
	# jsonschema's optional IRI checker builds an Earley grammar whenever nbformat is imported:
	# 2.5 s of every nbgrader process and test worker; nothing here validates IRIs
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	touch $(STAMP)

install: $(STAMP)

# The offline browser tests (tests/test_book.py) drive Debian's chromium with chromium-driver.
# As root with apt-get this installs them when missing; anywhere else those tests skip and say why.
browser:  ## Chromium and its driver for the browser tests (Debian packages; needs root)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
			|| echo "browser: could not install chromium; the browser tests will skip"; \
	else echo "browser: no chromium/chromedriver and no root apt-get; the browser tests will skip"; fi

book: $(STAMP)  ## the Jupyter Book, into _build/html (warnings are errors)
	$(BIN)/jupyter-book build . --warningiserror --keep-going

release: $(STAMP)  ## regenerate assignments/ from solutions/ with nbgrader
	$(BIN)/python -m lmcore.course.classroom release

demo: $(STAMP)  ## autograde two demo students (the solution, the untouched release)
	$(BIN)/python -m lmcore.course.classroom demo

# JOBS students at once (default: the cores); SHARD=i/n grades slice i of n into shards/$(A)/,
# `make merge` joins the shards; DB=<SQLAlchemy URL> for a gradebook server (README: Grading a class)
autograde: $(STAMP)  ## autograde submitted/*/$(A) in the course directory (COURSE=... JOBS=N SHARD=i/n DB=url)
	$(BIN)/python -m lmcore.course.classroom autograde $(A) --jobs $(JOBS) $(if $(COURSE),--course-dir $(COURSE)) \
		$(if $(SHARD),--shard $(SHARD)) $(if $(DB),--db '$(DB)')

merge: $(STAMP)  ## join the shards of $(A) into grades.csv, autograded/ and feedback/ (COURSE=...)
	$(BIN)/python -m lmcore.course.classroom merge $(A) $(if $(COURSE),--course-dir $(COURSE))

# One pytest session on both cores: tests/ and nbval on the executed solution notebooks (their
# outputs are committed). tests/conftest.py sends each test to the next free worker, slow ones
# first, and keeps a notebook's cells together on one worker (they share a kernel).
# One torch thread per worker: two workers of two threads each on two cores make every small op
# of the checks wait for the other (a quick generate check took 24 s instead of 0.5 s).
test: $(STAMP) browser  ## the whole suite: tests/ and nbval on the executed solution notebooks
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --durations=15 tests solutions \
		--nbval --nbval-sanitize-with tests/nbval_sanitize.cfg

solutions-outputs: $(STAMP)  ## re-execute solutions/*/*.ipynb in place (their outputs are committed)
	$(BIN)/python -m lmcore.course.notebooks solutions/*/*.ipynb

lint: $(STAMP)
	$(BIN)/ruff check lmcore tests
	$(BIN)/ruff format --check lmcore tests

format: $(STAMP)
	$(BIN)/ruff format lmcore tests
	$(BIN)/ruff check --fix lmcore tests

clean:
	rm -rf _build .pytest_cache .ruff_cache

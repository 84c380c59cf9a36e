# Every target sets itself up: a local .venv with the CPU build of torch 2.13.0 and the pinned stack.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml scripts/setup_env.sh | sha1sum | cut -c1-10)

.PHONY: setup demo test test-fast lint format data bench-train bench-score clean-cache

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup_env.sh
	bash scripts/setup_env.sh $(VENV)
	touch $@

## The main job: low-data E2E on the embedded SmolLM2 (train, decode, score, table), < 10 min on 2 cores.
demo: setup
	$(PY) -m prefix_tuning.demo experiment=demo

## Lint and format check (ruff), then all tests, slow ones included (what CI runs).
test: setup lint
	$(PY) -m pytest -q -ra

## Style is kept by a tool: ruff lint + format check (`make format` rewrites).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Tests without the ones marked slow.
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

## Fetch the original public releases into data/ (needs internet; our machines read ../shared/data).
data: setup
	$(PY) scripts/fetch_data.py data

bench-train: setup
	$(PY) benchmarks/train_step.py

bench-score: setup
	$(PY) benchmarks/score_speed.py

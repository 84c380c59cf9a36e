# Every target sets itself up: a local .venv with the CPU build of torch 2.13.0 and the pinned stack.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml scripts/setup_env.sh | sha1sum | cut -c1-10)

.PHONY: setup demo test test-fast lint format data bench-train bench-score clean-cache reproduce-all check-paper-profile
ARTIFACTS := table2 table3 table4 table5 fig3 fig4 fig5

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

## Fetch the four tasks' original releases into data/ (needs internet; our machines read ../shared/data).
data: setup
	$(VENV)/bin/pip install -q -e '.[data]'
	$(PY) scripts/fetch_data.py data

bench-train: setup
	$(PY) benchmarks/train_step.py

bench-score: setup
	$(PY) benchmarks/score_speed.py

## Reproduce a paper table or figure (ACL 2021 numbering): one Hydra multirun over its grid, then the report.
## PROFILE=paper|cpu|smoke (default: paper with a CUDA GPU, else cpu), DRY_RUN=1 lists the runs,
## RUNS=<dir> (default runs/reproduce/<profile>/<artifact>), RESULTS=<dir> (default results/<profile>),
## LAUNCHER=basic|joblib|slurm, CLAIMS_ONLY=1 runs only what the claims read (the rest later, without it).
## A finished run is skipped, a killed one resumes.
reproduce-%: setup
	@PROFILE=$(PROFILE) DRY_RUN=$(DRY_RUN) CLAIMS_ONLY=$(CLAIMS_ONLY) RUNS=$(RUNS) RESULTS=$(RESULTS) LAUNCHER=$(LAUNCHER) $(PY) -m prefix_tuning.reproduce $*

reproduce-all: $(addprefix reproduce-,$(ARTIFACTS))

## The paper profile's shapes without its downloads: gpt2-medium / bart-large architectures with random weights, the
## paper cells' batches, lengths and decoding, a few steps; writes results/paper_shape_check.{md,json} (~10 min on 2 cores).
check-paper-profile: setup
	$(PY) scripts/check_paper_profile.py

# Two commands do everything on a fresh machine:
#   make demo   set up the environment, generate data, train RANet on it, evaluate it
#   make test   set up the environment, lint, run the test suite
PY      := .venv/bin/python
DATA    := data/synthetic_context
DEMO_CONFIG ?= configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py
DEMO_WORK   ?= work_dirs/demo
PYTEST_ARGS ?= -m "not slow"

.PHONY: setup demo data test test-slow lint format clean

setup:
	bash scripts/setup_env.sh

$(DATA)/meta.json: | setup
	$(PY) -m mmseg_ranet.datasets.generate --out $(DATA)

data: setup $(DATA)/meta.json

demo: data
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_WORK)
	$(PY) tools/test.py $(DEMO_CONFIG) $$(cat $(DEMO_WORK)/last_checkpoint) --work-dir $(DEMO_WORK)/test
	$(PY) tools/demo_result.py $(DEMO_WORK)/test

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -m slow

clean:
	rm -rf work_dirs runs .pytest_cache

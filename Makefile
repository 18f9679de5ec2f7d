# Two entry points for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_TO_API_ENABLED := false
export PREFECT_LOGGING_LEVEL := WARNING
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test lint typecheck unit venv bench eval clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ningliang run data/samples/sample-call.xlsx --call sample-2026

lint: $(STAMP)
	$(BIN)/ruff check pipelines tests benchmarks
	$(BIN)/ruff format --check pipelines tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck unit

eval: $(STAMP)
	$(BIN)/python benchmarks/evaluate.py

eval-mapping: $(STAMP)  # mapper on the labelled dev demands + learning curve through `review import`
	$(BIN)/python benchmarks/evaluate_mapping.py

clean:
	rm -rf $(VENV) .prefect .mypy_cache .ruff_cache .pytest_cache

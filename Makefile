# Two entry points: `make demo` (the main job on the embedded teacher) and `make test` (the test suite).
# Both create .venv and install the project with its pinned dependencies on first use.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# llama-cpp-python is compiled from source on install; skipping its multimodal library saves build time.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: install demo test test-fast lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

demo: install
	$(BIN)/tvd run examples/new-intent/config.yaml --output-dir runs/new-intent

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m 'not slow'

lint: install
	$(BIN)/ruff check src tests bench examples

bench: install
	$(BIN)/python bench/fewshot_snips.py

clean:
	rm -rf $(VENV) runs build dist src/*.egg-info

# Two entry points: `make demo` (the main job on the embedded teacher) and `make test` (the test suite).
# Both create .venv and install the project with its pinned dependencies on first use.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test

# llama-cpp-python is compiled from source on install; skipping its multimodal library saves build time.
# A portable x86-64 build (AVX2, FMA, F16C) instead of -march=native: on CPUs with AMX (Sapphire Rapids and
# later) the native build's AMX matrix kernels crash llama.cpp 0.3.36 on the embedded model's prompts.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: install demo test test-fast lint bench clean

# The demo needs the embedded teacher only; the tests also exercise every other backend for real
# (llama.cpp's HTTP server, transformers with torch 2.13.0 CPU, ONNX Runtime, boto3 with botocore's Stubber,
# a local Ray cluster).
install: $(TEST_STAMP)

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $(DEMO_STAMP)

$(TEST_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[embedded,server,transformers,encoder,aws,ray,dev]'
	touch $(DEMO_STAMP) $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/tvd run examples/new-intent/config.yaml --out runs/new-intent

test: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/python -m pytest

test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -m 'not slow'

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench examples

bench: $(DEMO_STAMP)
	$(BIN)/python bench/fewshot_snips.py

clean:
	rm -rf $(VENV) runs build dist src/*.egg-info

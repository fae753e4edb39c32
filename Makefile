# facecast: two commands on a fresh machine.
#   make demo   create .venv, install, stream the demo and receive it (ends by itself)
#   make test   create .venv, install, run the whole test suite
#
# torch is installed pinned (TORCH_SPEC) before facecast: on CI machines the CPU
# wheel of torch 2.13.0 is on local disk; on a user's machine pip takes the build
# for their platform (CUDA on Linux). Override, e.g. `make demo TORCH_SPEC=torch==2.13.0+cu128`.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test bench install sysdeps clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

sysdeps:
	@bash .ci/sysdeps.sh

demo: $(STAMP)
	$(BIN)/facecast demo

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every benchmark runs; the target fails if any missed its goal (each prints which).
bench: $(STAMP) sysdeps
	@status=0; for b in loop_overhead sources clients renderer_portrait diffusion offline accel; do \
		$(BIN)/python bench/$$b.py || status=1; done; exit $$status

clean:
	rm -rf $(VENV) out build *.egg-info

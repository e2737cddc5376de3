# The two commands of the README: `make run` and `make test`. Both set up what they need.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# Lambda runs Python 3.12, so the local stack and the tests do too.
PYTHON312 := $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' 2>/dev/null && break; done)
VENV := .venv
TOOLS_VENV := .venv-tools
PY := $(VENV)/bin/python
CHAT_XDK_LIBRARY := .aws-sam/build/CommonLayer/python/chat_xdk/_native.abi3.so

help:
	@echo "make run     start the local stack (embedded AWS, local API on PORT, default 3000)"
	@echo "make test    run the whole test suite (unit, integration, end to end)"
	@echo "make lint    ruff (lint and format), mypy, sam validate --lint and sam build (no Docker needed)"
	@echo "make demo    a guided demo on a fresh local stack (DEMO_ARGS=--keep: keep it running)"

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt web/requirements.txt
	@test -n "$(PYTHON312)" || { echo "Python 3.12 is required (python3.12 on PATH)"; exit 1; }
	test -d $(VENV) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(TOOLS_VENV)/.installed: requirements-tools.txt
	@test -n "$(PYTHON312)" || { echo "Python 3.12 is required (python3.12 on PATH)"; exit 1; }
	test -d $(TOOLS_VENV) || $(PYTHON312) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $@

run: $(VENV)/.installed
	$(PY) -m local

demo: $(VENV)/.installed
	$(PY) -m local.demo $(DEMO_ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest -n auto

lint: $(VENV)/.installed $(TOOLS_VENV)/.installed
	$(TOOLS_VENV)/bin/ruff check .
	$(TOOLS_VENV)/bin/ruff format --check .
	$(PY) -m mypy
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(TOOLS_VENV)/bin/sam validate --lint
	SAM_CLI_TELEMETRY=0 PATH="$(dir $(PYTHON312)):$$PATH" $(TOOLS_VENV)/bin/sam build
	@# The layer carries the Chat XDK's native library, built for the functions' x86_64.
	$(PY) -c "import sys; elf = open('$(CHAT_XDK_LIBRARY)', 'rb').read(20); \
		sys.exit(elf[:4] != b'\x7fELF' or elf[18:20] != b'\x3e\x00')" \
		|| { echo "sam build made no x86_64 $(CHAT_XDK_LIBRARY)"; exit 1; }

.PHONY: help run test lint demo

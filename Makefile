# The two commands in README: `make demo` and `make test`. Each creates what it needs by itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
SCAN_VENV := .venv-scan
CHECKOV_VERSION := 3.3.30
BIN := $(VENV)/bin
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
DEPS_STAMP := $(VENV)/.deps-installed
SAM_STAMP := $(SAM_VENV)/.sam-installed
SCAN_STAMP := $(SCAN_VENV)/.checkov-installed
export PYTHONPATH := layers/common:layers/cli:.
export SAM_CLI_TELEMETRY := 0

.PHONY: demo local doctor test unit infra integration bench lint typecheck events install build deploy clean

$(DEPS_STAMP): pyproject.toml layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r layers/common/requirements.txt --group dev
	# Make the layer's package importable in the venv as Lambda sees it (/opt/python), e.g. for the CLI.
	$(BIN)/python -c "import site; open(site.getsitepackages()[0] + '/voiceagent-layer.pth', 'w').write('$(CURDIR)/layers/common\n')"
	# The operator's CLI as the `voiceagent` command (editable: it runs this checkout's code).
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

# checkov (IaC security scan) also pins its own dependency set: a third virtualenv.
$(SCAN_STAMP):
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install -q --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install -q checkov==$(CHECKOV_VERSION)
	touch $@

install: $(DEPS_STAMP) $(SAM_STAMP) $(SCAN_STAMP)

## make demo: the whole stack locally, six simulated calls end to end, timelines printed (no Docker/AWS/Plivo)
demo: $(DEPS_STAMP)
	$(BIN)/python -m tests.local.demo

## make local: the local stack, kept running (HTTP :3000, WebSocket :3001, Plivo REST :3002, moto :3003)
local: $(DEPS_STAMP)
	$(BIN)/python -m tests.local.stack

## make doctor: check a deployed stack end to end (STACK=name or ENV=dev|prod, REGION=…), else the local one
doctor: $(DEPS_STAMP)
	$(BIN)/voiceagent doctor $(if $(STACK)$(ENV),--stack $(or $(STACK),plivo-voice-agent-$(ENV)),--local) \
		$(if $(REGION),--region $(REGION))

## make test: lint, type-check, unit and template tests (no network, Docker, AWS or Plivo needed)
test: install lint typecheck
	$(BIN)/python -m pytest

unit: $(DEPS_STAMP)
	$(BIN)/python -m pytest tests/unit

infra: install
	$(BIN)/python -m pytest tests/infra

integration: $(DEPS_STAMP)
	$(BIN)/python -m pytest tests/integration

lint: $(DEPS_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(DEPS_STAMP)
	$(BIN)/mypy

## make bench: cold start, warm invocations, frame path, DynamoDB per call, cost per call-minute, local load
bench: $(DEPS_STAMP)
	$(BIN)/python -m pip install -q plivo-stream-sdk==0.1.1  # Plivo's own stream models, the parse reference
	$(BIN)/python -m tests.bench.bench

## make events: regenerate events/*.json (signed with the test auth token)
events: $(DEPS_STAMP)
	$(BIN)/python -m tests.support.make_events

build: $(SAM_STAMP)
	$(SAM) build

deploy: build
	$(SAM) deploy --config-env $${ENV:-dev}

clean:
	rm -rf $(VENV) $(SAM_VENV) $(SCAN_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache

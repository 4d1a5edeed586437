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
UV := $(SAM_VENV)/bin/uv
SCAN_STAMP := $(SCAN_VENV)/.checkov-installed
export PYTHONPATH := layers/common:layers/cli:.
export SAM_CLI_TELEMETRY := 0

.PHONY: demo local doctor test unit infra integration bench lint typecheck events install build deploy clean \
	invoke

# pip, talking: one line per package it collects (its whole output is kept in the venv's pip.log, and its end
# is printed if it fails), instead of a silent minute. $(call pip,VENV,what,arguments)
define pip
	@echo "    $(2)"
	@set -o pipefail; $(1)/bin/python -m pip install --progress-bar off --disable-pip-version-check $(3) 2>&1 \
		| tee -a $(1)/pip.log | awk '/^(Collecting|Successfully installed|ERROR)/ { print "      " $$0; fflush() }' \
		|| { echo "pip failed; the end of $(1)/pip.log:"; tail -n 30 $(1)/pip.log; exit 1; }
endef

$(DEPS_STAMP): pyproject.toml layers/common/requirements.txt
	@echo "==> [1/3] $(VENV): the layer's dependencies, the test tools and the CLI (about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(call pip,$(VENV),upgrading pip,--upgrade pip)
	$(call pip,$(VENV),runtime (layers/common/requirements.txt) and dev tools (pyproject.toml),-r layers/common/requirements.txt --group dev)
	@# Make the layer's package importable in the venv as Lambda sees it (/opt/python), e.g. for the CLI.
	@$(BIN)/python -c "import site; open(site.getsitepackages()[0] + '/voiceagent-layer.pth', 'w').write('$(CURDIR)/layers/common\n')"
	$(call pip,$(VENV),the voiceagent command (editable: it runs this checkout's code),--no-deps -e .)
	@touch $@
	@echo "==> $(VENV) ready"

$(SAM_STAMP):
	@echo "==> [2/3] $(SAM_VENV): aws-sam-cli $(SAM_CLI_VERSION) (about a minute)"
	$(PYTHON) -m venv $(SAM_VENV)
	$(call pip,$(SAM_VENV),upgrading pip,--upgrade pip)
	$(call pip,$(SAM_VENV),aws-sam-cli,aws-sam-cli==$(SAM_CLI_VERSION))
	@touch $@
	@echo "==> $(SAM_VENV) ready"

$(UV): $(SAM_STAMP)
	$(call pip,$(SAM_VENV),uv (provides sam build's Python 3.13 when none is on PATH),uv)

# checkov (IaC security scan) also pins its own dependency set: a third virtualenv.
$(SCAN_STAMP):
	@echo "==> [3/3] $(SCAN_VENV): checkov $(CHECKOV_VERSION) (the template's security scan)"
	$(PYTHON) -m venv $(SCAN_VENV)
	$(call pip,$(SCAN_VENV),upgrading pip,--upgrade pip)
	$(call pip,$(SCAN_VENV),checkov,checkov==$(CHECKOV_VERSION))
	@touch $@
	@echo "==> $(SCAN_VENV) ready"

install: $(DEPS_STAMP) $(SAM_STAMP) $(UV) $(SCAN_STAMP)

## make demo: the whole stack locally, six simulated calls end to end, timelines printed (no Docker/AWS/Plivo)
##   ports LOCAL_HTTP_PORT=3000 LOCAL_WS_PORT=3001 LOCAL_PLIVO_PORT=3002 LOCAL_MOTO_PORT=3003, or free ones:
##   make demo ARGS=--ephemeral-ports (or LOCAL_EPHEMERAL_PORTS=1)
demo: $(DEPS_STAMP)
	$(BIN)/python -m tests.local.demo $(ARGS)

## make local: the local stack, kept running (HTTP :3000, WebSocket :3001, Plivo REST :3002, moto :3003);
##   LOCAL_PLIVO=live: the real Plivo behind a tunnel (README: Call your own phone)
local: $(DEPS_STAMP)
	$(BIN)/python -m tests.local.stack $(ARGS)

## make invoke FUNCTION=answer EVENT=answer_outbound: one handler on one event file, against moto, no Docker
invoke: $(DEPS_STAMP)
	@test -n "$(FUNCTION)" -a -n "$(EVENT)" || { echo "usage: make invoke FUNCTION=answer EVENT=answer_outbound"; exit 2; }
	$(BIN)/python -m tests.local.invoke $(FUNCTION) $(EVENT)

## make doctor: check a deployed stack end to end (STACK=name or ENV=dev|prod, REGION=…), else the local one
doctor: $(DEPS_STAMP)
	$(BIN)/voiceagent doctor $(if $(STACK)$(ENV),--stack $(or $(STACK),plivo-voice-agent-$(ENV)),--local) \
		$(if $(REGION),--region $(REGION))

## make test: lint, type-check, unit and template tests on every core, then the integration tests over real sockets
##   (no network, Docker, AWS or Plivo needed)
test: install lint typecheck
	$(BIN)/python -m pytest -n auto tests/unit tests/infra
	$(BIN)/python -m pytest tests/integration

unit: $(DEPS_STAMP)
	$(BIN)/python -m pytest -n auto tests/unit

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

## make bench: cold start, warm invocations, frame path, DynamoDB per call, cost per call-minute, local load,
##   campaigns (1,000 contacts at 50 calls/s, and again with a dialer killed mid-run)
bench: $(DEPS_STAMP)
	$(BIN)/python -m pip install -q plivo-stream-sdk==0.1.1  # Plivo's own stream models, the parse reference
	$(BIN)/python -m tests.bench.bench

## make events: regenerate events/*.json (signed with the test auth token)
events: $(DEPS_STAMP)
	$(BIN)/python -m tests.support.make_events

# sam build needs the Lambda runtime's Python (3.13) on PATH for the layer's BuildMethod. Without it, uv
# provides one (a venv in .venv-build, downloading Python 3.13 if uv has none), else Docker builds in a
# container (--use-container). The line it prints says which.
BUILD_VENV := .venv-build
build: $(SAM_STAMP) $(UV)
	@if command -v python3.13 >/dev/null 2>&1; then \
		echo "==> sam build with $$(command -v python3.13) (python3.13 on PATH)"; \
		$(SAM) build; \
	elif $(UV) venv --quiet --allow-existing --seed --python 3.13 $(BUILD_VENV) >/dev/null 2>&1; then \
		echo "==> sam build with uv's Python 3.13 ($(BUILD_VENV)/bin/python3.13): no python3.13 on PATH"; \
		PATH="$(CURDIR)/$(BUILD_VENV)/bin:$$PATH" $(SAM) build; \
	elif docker info >/dev/null 2>&1; then \
		echo "==> sam build --use-container: no python3.13 on PATH, uv could not provide one, Docker runs"; \
		$(SAM) build --use-container; \
	else \
		echo "error: sam build needs Python 3.13 (the functions' runtime). Install it (pyenv install 3.13," \
			"apt/brew python3.13, or let uv fetch one: $(UV) python install 3.13), or start" \
			"Docker for --use-container; then run make build again." >&2; \
		exit 1; \
	fi

deploy: build
	$(SAM) deploy --config-env $${ENV:-dev}

clean:
	rm -rf $(VENV) $(SAM_VENV) $(SCAN_VENV) $(BUILD_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache

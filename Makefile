# The two commands: `make run` (local stack) and `make test` (every test). Both build .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint infra package clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m devstack

test: $(STAMP)
	bash scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python scripts/run_tests.py

bench: $(STAMP) package
	$(BIN)/python -m bench
	$(BIN)/python -m bench.platform
	$(BIN)/python -m bench.followup_stack
	$(BIN)/python -m bench.group_send_stack

infra: $(STAMP)
	$(BIN)/python -m infra.build

# Deployable artefacts for AWS (see infra/README.md): Chalice's template merged with infra/, then
# split into one function per unit with its own role and queue; prints each function and the zip size.
package: infra
	rm -rf build/package
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-cn-north-1} $(BIN)/chalice package --stage prod --merge-template infra/template.json build/package
	$(BIN)/python -m infra.package build/package

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .devstack build

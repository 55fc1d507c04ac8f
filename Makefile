# Every target installs what it needs on first use (virtualenv, node modules).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# checkov pins dependencies that conflict with requirements.txt: it gets a virtualenv of its own.
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed
SCAN_OUT := cdk.out
TEMPLATE := $(SCAN_OUT)/TfModelLifecycle.template.json

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export KERAS_HOME := $(CURDIR)/.keras
export TF_CPP_MIN_LOG_LEVEL := 2
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install synth scan deploy-local demo test lint bench clean

install: $(PY_STAMP) $(NODE_STAMP) $(SCAN_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# Editable: the repository's own packages (app, stacks, pipeline_constructs, local_mode, lambdas,
	# contract, pipeline_cli) import from anywhere, and `mlpipeline` reads cdk.out from this checkout.
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(SCAN_STAMP): requirements-scan.txt
	python3 -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet -r requirements-scan.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## synth: write cdk.out (no AWS credentials or network needed)
synth: $(PY_STAMP) $(NODE_STAMP)
	npx cdk synth --quiet

## scan: synthesize, then lint the template with cfn-lint, scan it with checkov (reviewed
## findings are acknowledged on their resources: stacks/scanner_findings.py) and lint its IAM with parliament
scan: $(PY_STAMP) $(SCAN_STAMP)
	$(PY) -c 'import app; app.build_app(outdir="$(SCAN_OUT)").synth()'
	cfn-lint --format pretty $(TEMPLATE) && echo "cfn-lint: no findings"
	$(SCAN_VENV)/bin/checkov --file $(TEMPLATE) --framework cloudformation --compact --quiet --skip-download
	# parliament (IAM policy linter) over every identity, trust and resource policy; reviewed findings:
	# IAM_LINTER_FINDINGS in stacks/nag_suppressions.py
	$(PY) -m pytest -q -p no:cacheprovider tests/infra/test_iam_linter.py

## deploy-local: `cdk bootstrap` and `cdk deploy` the app into a local account (moto), then describe the stack
deploy-local: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m local_mode deploy

## demo: deploy locally, then run both workflows end to end on this machine (local mode)
demo: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m local_mode demo

## lint: ruff and mypy, one configuration (pyproject.toml), one run over everything
lint: $(PY_STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy app.py stacks pipeline_constructs pipeline_cli local_mode benchmarks contract lambdas training_code tests

## test: lint, then the whole test suite (which runs cfn-lint and checkov: tests/infra/test_scanners.py)
test: lint $(NODE_STAMP) $(SCAN_STAMP)
	$(PY) -m pytest -n 2

## bench: training and input-pipeline benchmark, then the pipeline benchmark (step cache, local
## mode: first run, identical run, a retrain) → benchmarks/results.json and the README
bench: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m benchmarks.bench_training
	$(PY) -m benchmarks.bench_pipeline

clean:
	rm -rf cdk.out local-run .pytest_cache .mypy_cache .ruff_cache

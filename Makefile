# The two commands of the README: `make run` and `make test`. Both start with `make setup`.
PY313 ?= $(shell PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null || command -v python3.13)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp

.PHONY: setup run test bench clean-venv

setup: $(STAMP)
	@$(PY) -m captioner prepare-encoder

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || test -n "$(PY313)" || { echo "Python 3.13 is needed: install it (pyenv install 3.13.0) or pass PY313=/path/to/python3.13"; exit 1; }
	@test -x $(PY) || $(PY313) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -c constraints.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

run: setup
	$(PY) -m photoshare.devserver

# Two pytest workers (the machines have 2 cores; the tests wait on servers, workers and a
# browser much of the time). --dist loadscope keeps a module's tests on one worker, so a
# module's live server, browser or fault stack starts once.
TEST_WORKERS ?= 2
test: setup
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# Every bench/bench_*.py, one at a time, then bench/results/SUMMARY.md + summary.png (BENCH_ARGS: e.g. --only worker).
bench: setup
	$(PY) bench/run_all.py $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)

# Two commands set everything up on a machine with only Python 3.11+ and make:
#   make demo   - virtualenv, install, analyze a sample
#   make test   - virtualenv, test extras, the whole suite (lint and types included)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SAMPLE ?= samples/smuggling.txt

.PHONY: demo test lint typecheck unit bench bench-realistic bench-audit fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/smtplens analyze --fail-on never $(SAMPLE) samples/auth-login.txt

lint: $(VENV)/.installed-test
	$(BIN)/ruff check smtplens tests benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest

test: lint typecheck unit

# the peers (tshark, Suricata 7, pflogsumm) are installed first where that can be done
bench: $(VENV)/.installed-test
	benchmarks/install-peers
	$(BIN)/python benchmarks/bench_pcap.py --size 220
	$(BIN)/python benchmarks/bench_realistic.py
	$(BIN)/python benchmarks/bench_audit.py

# realistic traffic (3,000 sessions, 300k-line Postfix and Exim logs) next to tshark,
# Suricata 7 and pflogsumm when installed; see benchmarks/bench_realistic.py
bench-realistic: $(VENV)/.installed-test
	benchmarks/install-peers
	$(BIN)/python benchmarks/bench_realistic.py

# smtplens audit: --jobs 2 against --jobs 1 on a folder of 21 files, Dask against local,
# and a busy Postfix log next to pflogsumm; see benchmarks/bench_audit.py
bench-audit: $(VENV)/.installed-test
	benchmarks/install-peers
	$(BIN)/python benchmarks/bench_audit.py

# coverage-guided with atheris when installed (pip install atheris), else hypothesis;
# findings and reproducers in /tmp/smtplens-fuzz
fuzz: $(VENV)/.installed-test
	$(BIN)/python benchmarks/fuzz.py --minutes 10

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

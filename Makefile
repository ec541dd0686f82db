# The two commands of the README: `make book` (build the book) and `make test` (run the tests).
# Both set everything up first (scripts/setup_env.sh is idempotent and quick once done).
VENV ?= .venv
BIN := $(VENV)/bin
export VENV

.PHONY: setup test test-fast book teacher lock clean help

help:
	@echo "make book      set up, then build the book into _build/html"
	@echo "make test      set up, then run the test suite in fast mode (what CI runs)"
	@echo "make teacher   set up, then train the full-mode ResNet-20 teacher on Fashion-MNIST"
	@echo "make lock      refresh requirements-lock.txt from the current venv"

setup:
	bash scripts/setup_env.sh

test: setup
	CNN2GNN_FAST=1 $(BIN)/python -m pytest

book: setup
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "book: open _build/html/index.html"

teacher: setup
	$(BIN)/python -m cnn2gnn_lib train-teacher --dataset fashion-mnist --arch resnet20 --full

lock:
	( echo "# Exact environment that CI installs (Python 3.11, x86_64 Linux), frozen from a working venv."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^cnn2gnn' ) > requirements-lock.txt

clean:
	rm -rf _build .pytest_cache

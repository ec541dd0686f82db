# The two commands of the README: `make book` (build the book) and `make test` (run the tests).
# Both set everything up first (scripts/setup_env.sh is idempotent and quick once done).
VENV ?= .venv
BIN := $(VENV)/bin
export VENV
# Development and CI data that cannot be downloaded here (the CIFAR-10 JPEG copy) sits beside
# the checkout in ../shared/data; without it the tests that need it say they are skipped.
CNN2GNN_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data))
export CNN2GNN_DATA

.PHONY: setup test book book-students pdf notebooks teacher reproduce lock clean help

help:
	@echo "make book      set up, then build the book into _build/html"
	@echo "make book-students  the same book without the exercise solutions (_build/students)"
	@echo "make pdf       the whole book as one PDF (installs Debian's TeX packages if needed)"
	@echo "make test      set up, then run the tests and every notebook in fast mode (what CI runs)"
	@echo "make notebooks execute the chapters in full mode (their committed outputs) and time them"
	@echo "make teacher   set up, then train the full-mode ResNet-20 teacher on Fashion-MNIST"
	@echo "make reproduce set up, then run the full study into results/fashion-mnist/"
	@echo "make lock      refresh requirements-lock.txt from the current venv"

setup:
	bash scripts/setup_env.sh

test: setup
	CNN2GNN_FAST=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env tests notebooks

book: setup
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "book: open _build/html/index.html"

book-students: setup
	$(BIN)/python scripts/students_edition.py

pdf:
	CNN2GNN_TEX=1 bash scripts/setup_env.sh
	$(BIN)/python scripts/build_pdf.py

notebooks: setup
	$(BIN)/python scripts/notebooks.py run --mode fast
	$(BIN)/python scripts/notebooks.py run --mode full

teacher: setup
	$(BIN)/python -m cnn2gnn_lib train-teacher --dataset fashion-mnist --arch resnet20 --full

reproduce: setup
	$(BIN)/python -m cnn2gnn_lib reproduce --dataset fashion-mnist --full

lock:
	( echo "# Exact environment that CI installs (Python 3.11, x86_64 Linux), frozen from a working venv."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^cnn2gnn' ) > requirements-lock.txt

clean:
	rm -rf _build .pytest_cache

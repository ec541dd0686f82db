#!/usr/bin/env bash
# Set up everything the book needs on a fresh Debian/Ubuntu machine (idempotent):
#   1. the Debian package dataset-fashion-mnist (the offline copy of Fashion-MNIST),
#   2. Debian's chromium and chromium-driver (the headless browser test of the rendered book),
#      and MathJax from the npm registry into book/_static/mathjax (formulas render offline),
#   3. a virtual environment in $VENV (default .venv) with the exact locked packages,
#   4. the companion library installed in editable mode;
#   5. only when asked (CNN2GNN_TEX=1, as `make pdf` does): Debian's TeX packages for the PDF.
# Re-running does nothing when the lock file has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
LOCK=requirements-lock.txt

install_debian() {
  local packages=("$@") runner=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then runner=(sudo -n); else
      echo "setup: cannot install ${packages[*]} (not root, no passwordless sudo)." >&2
      echo "setup: run: sudo apt-get install -y ${packages[*]}" >&2
      return 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${runner[@]}" apt-get install -y -q "${packages[@]}" >/dev/null 2>&1 ||
    { "${runner[@]}" apt-get update -q >/dev/null && "${runner[@]}" apt-get install -y -q "${packages[@]}" >/dev/null; }
}

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${CNN2GNN_DATA:-}" ]; then
  echo "setup: installing Debian package dataset-fashion-mnist"
  install_debian dataset-fashion-mnist || echo "setup: continuing; the data will be downloaded where there is internet." >&2
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "setup: installing Debian packages chromium and chromium-driver (the book's browser test)"
  install_debian chromium chromium-driver || echo "setup: continuing; the browser test will be skipped." >&2
fi

if ! command -v npm >/dev/null; then
  echo "setup: installing Debian package npm (fetches MathJax, so the book renders formulas offline)"
  install_debian npm || echo "setup: continuing; without MathJax the book shows formulas as TeX." >&2
fi
bash scripts/fetch_mathjax.sh || echo "setup: MathJax could not be fetched; formulas will show as TeX." >&2

TEX_PACKAGES=(latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
              texlive-xetex texlive-plain-generic tex-gyre fonts-freefont-otf
              poppler-utils)
if [ "${CNN2GNN_TEX:-0}" = "1" ] && ! { command -v xelatex && command -v latexmk && command -v pdfinfo; } >/dev/null; then
  echo "setup: installing Debian's TeX packages for the PDF (a few minutes): ${TEX_PACKAGES[*]}"
  install_debian --no-install-recommends "${TEX_PACKAGES[@]}" ||
    { echo "setup: without TeX, \`make pdf\` cannot build the PDF." >&2; exit 1; }
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.cnn2gnn-lock.sha1"
want=$(sha1sum "$LOCK" pyproject.toml | sha1sum | cut -c1-40)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the locked environment ($LOCK); the first time takes a few minutes"
  "$VENV/bin/python" -m pip install -qq --upgrade pip
  "$VENV/bin/python" -m pip install -qq -r "$LOCK"
  "$VENV/bin/python" -m pip install -qq --no-deps --no-build-isolation -e .
  echo "$want" > "$STAMP"
fi
"$VENV/bin/python" -m pip check
"$VENV/bin/python" -c "import cnn2gnn_lib, torch; print('setup: cnn2gnn_lib', cnn2gnn_lib.__version__, '| torch', torch.__version__)"

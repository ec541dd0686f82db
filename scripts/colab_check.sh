#!/usr/bin/env bash
# A Colab-like check (run by .ci/run after the tests): Python 3.13 with the torch, torchvision
# and numpy of Colab's default runtime (STACK: torch 2.11.0, torchvision 0.26.0, numpy 2.1.3),
# no DGL, the library installed as a chapter's setup cell installs it (not editable, no lock),
# and every chapter copied alone into an empty folder and run in fast mode
# (scripts/colab_check.py; `--record` writes their cold times into notebooks/timings.json).
# A machine without Python 3.13 skips it and says why.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${COLAB_VENV:-$ROOT/.venv-colab}
# a python3.13 on PATH may be a pyenv shim that refuses to run: take the first that runs
PY313=""
for candidate in "$(command -v python3.13 2>/dev/null || true)" \
                 $(ls "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 2>/dev/null || true); do
  if [ -n "$candidate" ] && "$candidate" -c "import sys" >/dev/null 2>&1; then
    PY313=$candidate
    break
  fi
done
if [ -z "$PY313" ]; then
  echo "colab-check: skipped: no Python 3.13 on this machine (e.g. pyenv install 3.13)"
  exit 0
fi
start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY313" -m venv "$VENV"
"$VENV/bin/python" -m pip install -qq --upgrade pip
"$VENV/bin/python" -m pip install -qq torch==2.11.0 torchvision==0.26.0 numpy==2.1.3
# the library as the setup cell installs it: from the repository, not editable, no lock
"$VENV/bin/python" -m pip install -qq . nbclient ipykernel matplotlib-inline
if "$VENV/bin/python" -c "import dgl" 2>/dev/null; then
  echo "colab-check: DGL is installed in $VENV; Colab has none" >&2
  exit 1
fi
echo "colab-check: environment ready in $(( $(date +%s) - start )) s"
# run from outside the checkout, so the installed library is the one imported
(cd "${TMPDIR:-/tmp}" && "$VENV/bin/python" "$ROOT/scripts/colab_check.py" "$@")
echo "colab-check: finished in $(( $(date +%s) - start )) s"

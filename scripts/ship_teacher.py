"""Ship a finished teacher checkpoint with the library (cnn2gnn_lib/pretrained/).

Usage: .venv/bin/python scripts/ship_teacher.py artifacts/teachers/<name>.pt [...]

Copies each checkpoint into cnn2gnn_lib/pretrained/ and records its SHA-256, configuration, test
accuracy and training device in index.json (cnn2gnn_lib.training.pretrained.ship). Ship only the
full-mode teachers the study uses: train_or_load then loads them wherever the requested
configuration matches exactly.
"""
import json
import sys

from cnn2gnn_lib.training import pretrained

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        print(path, json.dumps(pretrained.ship(path), sort_keys=True))

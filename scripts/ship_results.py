"""Ship the summaries of the committed studies with the library (cnn2gnn_lib/shipped_results/).

Usage: .venv/bin/python scripts/ship_results.py

For every finished results/<dataset>/results.json, writes its summary (everything but per-image
predictions and stored stage records) as package data, so that chapter 8 on a pip-installed
library (Colab) shows the committed study. `reproduce` does this itself when it writes into the
repository's results/; tests/test_report.py fails when a summary is stale.
"""
import json
from pathlib import Path

from cnn2gnn_lib import report

if __name__ == "__main__":
    for path in sorted(Path(report.REPOSITORY_RESULTS).glob("*/results.json")):
        results = json.loads(path.read_text())
        if "wall_seconds" in results:
            print(path, "->", report.ship_summary(results))
        else:
            print(path, "is not finished; not shipped")

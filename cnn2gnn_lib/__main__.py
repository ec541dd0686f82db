"""Entry point of ``python -m cnn2gnn_lib`` (see :mod:`cnn2gnn_lib.cli`)."""
import sys

from .cli import main

sys.exit(main())

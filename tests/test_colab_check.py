"""scripts/colab_check.sh: which Python 3.13 it takes, and skipping where none runs."""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_python_that_refuses_to_run_is_not_taken(tmp_path):
    # pyenv puts a python3.13 shim on PATH that fails when 3.13 is not the selected version
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3.13"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}",
           "PYENV_ROOT": str(tmp_path / "no-pyenv"), "COLAB_VENV": str(tmp_path / "venv")}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "colab_check.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "colab-check: skipped: no Python 3.13" in done.stdout
    assert not (tmp_path / "venv").exists()

"""The package's layout stays true: import-linter's contracts in pyproject.toml hold (imports run one way from
the handlers down to the foundation, handlers are independent, the shipped layer imports no CLI or tests).

Run in its own process: import-linter configures logging in a way that disables existing loggers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / part) for part in ("layers/common", "layers/cli", ".")),
    }
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert "0 broken" in completed.stdout

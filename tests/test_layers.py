"""The layers import downward only: the import-linter contracts in pyproject.toml hold.

etl never imports signalboard or dashboard; signalboard never imports dashboard, Streamlit or
plotly; signalboard.stats never touches the warehouse. import-linter reads every import statement,
including those inside functions, so a lazy import does not slip past.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO_ROOT


def test_import_contracts_are_kept() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency (pyproject.toml)"
    done = subprocess.run(
        [lint_imports, "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout

"""dashboard.server: Streamlit's CLI after the pages' imports.

The preload only helps if it covers what the pages import, so the first test reads the imports
of every page, the app and its plumbing and checks each project module among them is preloaded.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import server
from dashboard.app import PAGE_SPECS

DASHBOARD = Path(server.__file__).resolve().parent
PROJECT_PACKAGES = ("signalboard", "dashboard", "etl")


def _imported_modules(path: Path) -> set[str]:
    """Modules `path` imports at its top level or inside functions (`from a import b` gives
    `a.b` when `a.b` is a module, else `a`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                try:
                    is_module = importlib.util.find_spec(candidate) is not None
                except ModuleNotFoundError:
                    is_module = False
                names.add(candidate if is_module else node.module)
    return names


IMPORTERS = [spec.path for spec in PAGE_SPECS] + [
    DASHBOARD.joinpath(*name.split(".")[1:]).with_suffix(".py") for name in server.STREAMLIT_BOUND
]


@pytest.mark.parametrize("path", IMPORTERS, ids=lambda path: path.name)
def test_every_project_module_a_page_imports_is_preloaded(path):
    imported = _imported_modules(path)
    ours = {name for name in imported if name.split(".")[0] in PROJECT_PACKAGES}
    assert ours, f"{path.name} imports no project module: the parse is wrong"
    missing = sorted(ours - set(server.PRELOADED) - set(server.STREAMLIT_BOUND) - {"dashboard"})
    assert not missing, f"{path.name} imports {missing}, which dashboard.server does not preload"


def test_no_module_with_streamlit_caches_is_preloaded():
    # A module that imports streamlit defines its caches at import; see STREAMLIT_BOUND.
    for name in server.PRELOADED:
        if name.split(".")[0] in PROJECT_PACKAGES:
            path = importlib.util.find_spec(name).origin
            assert "import streamlit" not in Path(path).read_text(encoding="utf-8"), name


def test_the_heavy_modules_are_preloaded_without_a_streamlit_runtime_warning():
    # A fresh interpreter: in this one the test collection has imported most of them already.
    code = (
        "import sys; from dashboard import server; "
        "before = 'signalboard.analysis.funnel' in sys.modules; server.preload(); "
        "print(before, all(m in sys.modules for m in server.PRELOADED), "
        "'scipy.stats' in sys.modules, 'plotly.graph_objects' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert proc.stdout.split() == ["False", "True", "True", "True"]
    assert "No runtime found" not in proc.stderr


def test_the_server_module_passes_its_arguments_to_streamlit():
    proc = subprocess.run(
        [sys.executable, "-m", "dashboard.server", "version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Streamlit, version ")


def test_serve_starts_streamlit_through_the_server_module():
    from signalboard.cli import _streamlit_command
    from signalboard.settings import Settings

    command = _streamlit_command(
        Settings(db_path=Path("w.duckdb")), 8600, address="127.0.0.1", secrets_file=None
    )
    assert command[1:5] == ["-m", "dashboard.server", "run", str(DASHBOARD / "app.py")]

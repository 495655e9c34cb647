#!/usr/bin/env python3
"""Task runner that needs nothing but Python 3.11+: sets up .venv and runs the project.

python3 dev.py demo    # set up, build the sample warehouse, start the dashboard
python3 dev.py test    # set up (with test tools and Chromium), lint, format-check, run all tests
python3 dev.py lint    # ruff check + ruff format --check only
python3 dev.py fmt     # apply ruff's fixes and formatting
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def run(*cmd: str | Path, check: bool = True, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)
    if check and code != 0:
        sys.exit(code)
    return code


def setup(extras: str = "") -> None:
    """Create .venv and install the project (editable) when pyproject.toml changed since last time."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"signalboard needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PY.exists():
        run(sys.executable, "-m", "venv", VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed{extras or '-base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    run(PY, "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(digest)


def ensure_chromium() -> None:
    """The browser tests drive Debian's chromium; install it when missing (root or sudo)."""
    if shutil.which("chromium") or Path("/usr/bin/chromium").exists():
        return
    apt = shutil.which("apt-get")
    if apt is None:
        print("dev.py: chromium is missing and apt-get is not available; browser tests will skip.")
        return
    prefix: list[str] = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if run(*prefix, apt, "update", "-qq", check=False, env=env) == 0:
        run(*prefix, apt, "install", "-y", "-qq", "chromium", check=False, env=env)
    if not Path("/usr/bin/chromium").exists():
        print(
            "dev.py: could not install chromium; browser tests will skip (and fail under CI=true)."
        )


def ensure_pango() -> None:
    """`signalboard report --pdf` prints with WeasyPrint, which needs the system's Pango and
    HarfBuzz (doc.courtbouillon.org/weasyprint, "Installation"); install them when missing."""
    import ctypes.util

    if ctypes.util.find_library("pango-1.0") and ctypes.util.find_library("pangoft2-1.0"):
        return
    apt = shutil.which("apt-get")
    if apt is None:
        print("dev.py: Pango is missing and apt-get is not available; PDF tests will fail.")
        return
    prefix: list[str] = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    packages = ["libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0"]
    if run(*prefix, apt, "update", "-qq", check=False, env=env) == 0:
        run(*prefix, apt, "install", "-y", "-qq", *packages, check=False, env=env)


def lint() -> None:
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    # The layers import downward only (contracts in pyproject.toml; also tests/test_layers.py).
    run(BIN / "lint-imports", "--no-cache")


def main(argv: list[str]) -> None:
    task = argv[0] if argv else "help"
    rest = argv[1:]
    if task == "demo":
        setup()
        os.execv(str(BIN / "signalboard"), [str(BIN / "signalboard"), "demo", *rest])
    elif task == "test":
        setup("dev")
        ensure_chromium()
        ensure_pango()
        lint()
        run(PY, "-m", "pytest", *rest)
    elif task == "lint":
        setup("dev")
        lint()
    elif task == "fmt":
        setup("dev")
        run(BIN / "ruff", "check", "--fix", ".")
        run(BIN / "ruff", "format", ".")
    else:
        print(__doc__)
        sys.exit(0 if task == "help" else 2)


if __name__ == "__main__":
    main(sys.argv[1:])

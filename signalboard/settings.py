"""The one place signalboard reads its environment.

Every variable is listed with its default in `.env.example`. Code asks for `get_settings()`
instead of reading `os.environ`, so a test can build a `Settings` with other values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _path(value: str) -> Path:
    path = Path(value).expanduser()
    # Relative paths are relative to the repository, so `signalboard` behaves the same from any folder.
    return path if path.is_absolute() else REPO_ROOT / path


@dataclass(frozen=True)
class Settings:
    """Typed settings; see `.env.example` for what each one means."""

    db_path: Path = field(default_factory=lambda: _path("data/warehouse.duckdb"))
    pseudonym_key_file: Path = field(default_factory=lambda: _path("data/pseudonym.key"))
    queries_dir: Path = field(default_factory=lambda: _path("queries"))
    sample_dir: Path = field(default_factory=lambda: _path("data/sample"))
    min_cell_size: int = 5
    severity_threshold: float = 0.25
    pay_floor_per_hour: float = 20.0
    sql_memory_limit: str = "512MB"
    sql_threads: int = 1
    sql_timeout_seconds: float = 10.0
    sql_max_rows: int = 100_000
    sql_allow_demographics: bool = False
    port: int = 8501
    config_path: Path | None = None

    def with_db(self, db_path: str | Path | None) -> Settings:
        """The same settings pointed at another warehouse file (a `--db` option).

        A relative `--db` is relative to the folder the command runs in, like `--out` and every
        other path a user types; only the defaults and SIGNALBOARD_* variables are relative to
        the repository.
        """
        if db_path is None:
            return self
        return replace(self, db_path=Path(db_path).expanduser().resolve())


def get_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment (or from `environ`, for tests)."""
    env = os.environ if environ is None else environ
    defaults = Settings()

    def text(name: str, default: str) -> str:
        value = env.get(name, "").strip()
        return value or default

    return Settings(
        db_path=_path(text("SIGNALBOARD_DB", str(defaults.db_path))),
        pseudonym_key_file=_path(
            text("SIGNALBOARD_PSEUDONYM_KEY_FILE", str(defaults.pseudonym_key_file))
        ),
        queries_dir=_path(text("SIGNALBOARD_QUERIES_DIR", str(defaults.queries_dir))),
        sample_dir=defaults.sample_dir,
        min_cell_size=int(text("SIGNALBOARD_MIN_CELL_SIZE", str(defaults.min_cell_size))),
        severity_threshold=float(
            text("SIGNALBOARD_SEVERITY_THRESHOLD", str(defaults.severity_threshold))
        ),
        pay_floor_per_hour=float(
            text("SIGNALBOARD_PAY_FLOOR_PER_HOUR", str(defaults.pay_floor_per_hour))
        ),
        sql_memory_limit=text("SIGNALBOARD_SQL_MEMORY_LIMIT", defaults.sql_memory_limit),
        sql_threads=int(text("SIGNALBOARD_SQL_THREADS", str(defaults.sql_threads))),
        sql_timeout_seconds=float(
            text("SIGNALBOARD_SQL_TIMEOUT_SECONDS", str(defaults.sql_timeout_seconds))
        ),
        sql_max_rows=int(text("SIGNALBOARD_SQL_MAX_ROWS", str(defaults.sql_max_rows))),
        sql_allow_demographics=text("SIGNALBOARD_SQL_ALLOW_DEMOGRAPHICS", "false").lower()
        in ("1", "true", "yes"),
        port=int(text("SIGNALBOARD_PORT", str(defaults.port))),
        # The sign-in config; unset or empty means local single-user mode (signalboard.access).
        config_path=Path(text("SIGNALBOARD_CONFIG", "")).expanduser().resolve()
        if text("SIGNALBOARD_CONFIG", "")
        else None,
    )

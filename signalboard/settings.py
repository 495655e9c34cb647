"""The one place signalboard reads its environment and finds its files.

Every variable is listed with its default in `.env.example`. Code asks for `get_settings()`
instead of reading `os.environ`, so a test can build a `Settings` with other values.

Files that ship with signalboard (the SQL library, the analysis queries, the sample exports,
the vendor mappings) resolve from the installed package, so a wheel installed anywhere finds
them. Files signalboard writes (the default warehouse, the pseudonym key) live in a per-user data
folder, or beside a warehouse the user names, never inside the installation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import TypeVar

KEY_FILE_NAME = "pseudonym.key"


def _package_dir(package: str) -> Path:
    # The SQL and the sample are package data (pyproject.toml maps queries/ and data/sample/ into
    # the signalboard package); an editable install resolves them to the checkout.
    return Path(str(files(package)))


def user_data_dir(environ: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """The per-user folder for the default warehouse and its key.

    `SIGNALBOARD_HOME` when set; else `$XDG_DATA_HOME/signalboard` (XDG Base Directory
    Specification), defaulting to `~/.local/share/signalboard`; on Windows `%LOCALAPPDATA%`.
    """
    env = os.environ if environ is None else environ
    home = env.get("SIGNALBOARD_HOME", "").strip()
    if home:
        return Path(home).expanduser().resolve()
    if os.name == "nt" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "signalboard"
    xdg = env.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return (base / "signalboard").resolve()


def queries_root() -> Path:
    """The folder holding the shipped SQL: `library/` (analysts) and `analysis/` (sections)."""
    return _package_dir("signalboard._queries")


def sample_dir() -> Path:
    """The bundled sample exports (`signalboard generate --applications 3000 --seed 7`)."""
    return _package_dir("signalboard._sample")


def _path(value: str) -> Path:
    # A path a user types is relative to the folder the command runs in.
    return Path(value).expanduser().resolve()


_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
}


def parse_size(value: str) -> int:
    """A byte count from `123`, `64MB` or `1GiB` (DuckDB's convention: MB = 1000^2, MiB = 1024^2)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]I?B|B)?", value.strip().upper())
    if match is None:
        raise ValueError(f"not a size: {value!r} (expected e.g. 64MB or 67108864)")
    digits, unit = match.group(1), match.group(2) or ""
    return int(float(digits) * _SIZE_UNITS[unit])


LL144_MIN_SHARE = 0.02
"""6 RCNY 5-301: a category under 2% of the data may be left out of the impact ratios."""


T = TypeVar("T")


class SettingsError(ValueError):
    """A setting in the environment has a value it cannot take; the message names it."""


def _share(value: str) -> float:
    """SIGNALBOARD_MIN_COMPARATOR_SHARE as a fraction between the LL144 rule's 2% and 1."""
    try:
        share = float(value)
    except ValueError:
        raise SettingsError(
            f"SIGNALBOARD_MIN_COMPARATOR_SHARE must be a number such as 0.05, not {value!r}"
        ) from None
    if not LL144_MIN_SHARE <= share <= 1:
        raise SettingsError(
            f"SIGNALBOARD_MIN_COMPARATOR_SHARE must be between 0.02 (the LL144 rule's 2%) and 1, "
            f"not {value}"
        )
    return share


@dataclass(frozen=True)
class Settings:
    """Typed settings; see `.env.example` for what each one means.

    `pseudonym_key_file` defaults to `pseudonym.key` beside the warehouse, so a warehouse and the
    key its pseudonyms were made with travel together; setting it pins it.
    """

    db_path: Path = field(default_factory=lambda: user_data_dir() / "warehouse.duckdb")
    pseudonym_key_file: Path | None = None
    queries_dir: Path = field(default_factory=lambda: queries_root() / "library")
    analysis_queries_dir: Path = field(default_factory=lambda: queries_root() / "analysis")
    sample_dir: Path = field(default_factory=sample_dir)
    min_cell_size: int = 5
    # Smallest share of an adverse-impact table's applicants the comparator group may hold; never
    # under the 2% that NYC's LL144 rule (6 RCNY 5-301) lets an auditor leave out.
    min_comparator_share: float = 0.05
    severity_threshold: float = 0.25
    pay_floor_per_hour: float = 20.0
    # The claimed time-to-hire reduction of micro-internships ("40% shorter"), set against the
    # measured one on the Time to hire page and in the report.
    claimed_time_reduction: float = 0.40
    # DuckDB's memory cap on the load's connection; past it, the load spills to disk beside the
    # warehouse. `auto` scales it with the exports (etl.load.load_memory_cap).
    load_memory_limit: str = "auto"
    sql_memory_limit: str = "512MB"
    sql_threads: int = 1
    sql_timeout_seconds: float = 10.0
    sql_max_rows: int = 100_000
    sql_max_bytes: int = 64_000_000
    sql_allow_demographics: bool = False
    # Demographics columns a load keeps besides sex and race_ethnicity (etl/privacy.py).
    demographic_attributes: tuple[str, ...] = ("disability", "veteran", "age_band")
    # Pre-specified stipend reference groups, `attribute=value,...` (signalboard.analysis.stipends).
    stipend_reference: str = ""
    port: int = 8501
    config_path: Path | None = None
    key_file_pinned: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.pseudonym_key_file is None:
            object.__setattr__(
                self, "pseudonym_key_file", Path(self.db_path).parent / KEY_FILE_NAME
            )
        else:
            object.__setattr__(self, "key_file_pinned", True)

    def with_db(self, db_path: str | Path | None) -> Settings:
        """The same settings pointed at another warehouse file (a `--db` option).

        A relative `--db` is relative to the folder the command runs in. The key moves with the
        warehouse unless SIGNALBOARD_PSEUDONYM_KEY_FILE pinned it.
        """
        if db_path is None:
            return self
        path = Path(db_path).expanduser().resolve()
        key = self.pseudonym_key_file if self.key_file_pinned else path.parent / KEY_FILE_NAME
        return replace(self, db_path=path, pseudonym_key_file=key)


def get_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment (or from `environ`, for tests)."""
    env = os.environ if environ is None else environ

    def text(name: str, default: str) -> str:
        value = env.get(name, "").strip()
        return value or default

    def converted(name: str, default: object, convert: Callable[[str], T], expected: str) -> T:
        # checked here so a typo is a one-line error, not a failure halfway through a load or a
        # query
        value = text(name, str(default))
        try:
            return convert(value)
        except ValueError:
            raise SettingsError(f"{name} must be {expected}, not {value!r}") from None

    def integer(name: str, default: int) -> int:
        return converted(name, default, int, "a whole number")

    def number(name: str, default: float) -> float:
        return converted(name, default, float, "a number")

    def memory(name: str, default: str, *, auto: bool = False) -> str:
        def size(value: str) -> str:
            if auto and value.lower() == "auto":
                return "auto"
            parse_size(value)
            return value

        return converted(name, default, size, "a size such as 1500MB or 4GB")

    db = env.get("SIGNALBOARD_DB", "").strip()
    key = env.get("SIGNALBOARD_PSEUDONYM_KEY_FILE", "").strip()
    queries = env.get("SIGNALBOARD_QUERIES_DIR", "").strip()
    defaults = Settings(db_path=_path(db) if db else user_data_dir(env) / "warehouse.duckdb")
    return Settings(
        db_path=defaults.db_path,
        pseudonym_key_file=_path(key) if key else None,
        queries_dir=_path(queries) if queries else defaults.queries_dir,
        min_cell_size=integer("SIGNALBOARD_MIN_CELL_SIZE", defaults.min_cell_size),
        min_comparator_share=_share(
            text("SIGNALBOARD_MIN_COMPARATOR_SHARE", str(defaults.min_comparator_share))
        ),
        severity_threshold=number("SIGNALBOARD_SEVERITY_THRESHOLD", defaults.severity_threshold),
        pay_floor_per_hour=number("SIGNALBOARD_PAY_FLOOR_PER_HOUR", defaults.pay_floor_per_hour),
        claimed_time_reduction=number(
            "SIGNALBOARD_CLAIMED_TIME_REDUCTION", defaults.claimed_time_reduction
        ),
        load_memory_limit=memory(
            "SIGNALBOARD_LOAD_MEMORY_LIMIT", defaults.load_memory_limit, auto=True
        ),
        sql_memory_limit=memory("SIGNALBOARD_SQL_MEMORY_LIMIT", defaults.sql_memory_limit),
        sql_threads=integer("SIGNALBOARD_SQL_THREADS", defaults.sql_threads),
        sql_timeout_seconds=number("SIGNALBOARD_SQL_TIMEOUT_SECONDS", defaults.sql_timeout_seconds),
        sql_max_rows=integer("SIGNALBOARD_SQL_MAX_ROWS", defaults.sql_max_rows),
        sql_max_bytes=parse_size(memory("SIGNALBOARD_SQL_MAX_BYTES", str(defaults.sql_max_bytes))),
        sql_allow_demographics=text("SIGNALBOARD_SQL_ALLOW_DEMOGRAPHICS", "false").lower()
        in ("1", "true", "yes"),
        demographic_attributes=tuple(
            a.strip()
            for a in text(
                "SIGNALBOARD_DEMOGRAPHIC_ATTRIBUTES", ",".join(defaults.demographic_attributes)
            ).split(",")
            if a.strip()
        ),
        stipend_reference=env.get("SIGNALBOARD_STIPEND_REFERENCE", "").strip(),
        port=integer("SIGNALBOARD_PORT", defaults.port),
        # The sign-in config; unset or empty means local single-user mode (signalboard.access).
        config_path=Path(text("SIGNALBOARD_CONFIG", "")).expanduser().resolve()
        if text("SIGNALBOARD_CONFIG", "")
        else None,
    )

"""The pseudonym key bound to its warehouse.

A warehouse records its key's fingerprint (`PseudonymKey.fingerprint`, an HMAC of a constant) in
the one-row table `pseudonym_key`. A load checks it before reading any file:

- key file present, fingerprints equal: go ahead;
- key file present, fingerprints differ: refused (every id would get a second pseudonym);
- key file missing, warehouse holds data (a load or a fingerprint): refused, never a new key;
- key file missing, no warehouse yet: a new key, written beside nothing else only when the new
  warehouse is swapped in, and the load says so;
- warehouse without a recorded fingerprint (built before the binding existed): the load's key is
  recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from etl.pseudonym import PseudonymKey, PseudonymKeyError, new_key, read_key

KEY_TABLE = "pseudonym_key"

KEY_DDL = f"""
create table if not exists {KEY_TABLE} (
    fingerprint varchar not null,
    secrets integer not null,
    recorded_at timestamp not null
)
"""


class KeyMismatchError(Exception):
    """The key does not belong to the warehouse; the one-line message says how to proceed."""


@dataclass(frozen=True)
class LoadKey:
    """The key a load uses, and whether the load created it (written only if the load lands)."""

    key: PseudonymKey
    path: Path
    created: bool


def rotation_leftover(key_file: Path) -> Path:
    """Where a rotation keeps the new key between swapping the warehouse and replacing the key."""
    return key_file.with_name(key_file.name + ".rotated")


def key_for_load(key_file: Path) -> LoadKey:
    """The key for a load: the key file's, or a new one (`bind_key` refuses a new key for a
    warehouse that already holds data). Raises PseudonymKeyError for a file that is not a key.
    """
    key_file = Path(key_file)
    if key_file.exists():
        return LoadKey(read_key(key_file), key_file, created=False)
    return LoadKey(new_key(), key_file, created=True)


def _missing_key(key_file: Path) -> KeyMismatchError:
    leftover = rotation_leftover(key_file)
    hint = (
        f" ({leftover} is the key of an interrupted rotation: move it to {key_file})"
        if leftover.exists()
        else ""
    )
    return KeyMismatchError(
        f"pseudonym key file {key_file} is missing but the warehouse already holds data{hint}: "
        "restore the key from your backup (or point SIGNALBOARD_PSEUDONYM_KEY_FILE at it), "
        "or load into a new warehouse with --db; a new key would give everyone a second pseudonym"
    )


def recorded_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint the warehouse on `con` records, or None."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_name = $t",
        {"t": KEY_TABLE},
    ).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute(f"select fingerprint from {KEY_TABLE}").fetchall()
    return str(rows[0][0]) if rows else None


def bind_key(con: duckdb.DuckDBPyConnection, load_key: LoadKey) -> None:
    """Check the load's key against the warehouse on `con`, recording it on first use.

    Run inside the load's transaction, so a refused or failed load records nothing.
    """
    key, key_file = load_key.key, load_key.path
    recorded = recorded_fingerprint(con)
    if load_key.created and (
        recorded is not None or con.execute("select count(*) from loads").fetchall()[0][0]
    ):
        raise _missing_key(key_file)
    if recorded is None:
        con.execute(KEY_DDL)
        set_fingerprint(con, key)
        return
    if recorded != key.fingerprint:
        leftover = rotation_leftover(key_file)
        hint = (
            f"; {leftover} is the key of an interrupted rotation: move it to {key_file}"
            if leftover.exists()
            else ""
        )
        raise KeyMismatchError(
            f"pseudonym key {key_file} (fingerprint {key.fingerprint}) is not the key this "
            f"warehouse was built with (fingerprint {recorded}){hint}: use the warehouse's key "
            "file (SIGNALBOARD_PSEUDONYM_KEY_FILE), or load into a new warehouse with --db; "
            "`signalboard key fingerprint` shows a key file's fingerprint"
        )


def set_fingerprint(con: duckdb.DuckDBPyConnection, key: PseudonymKey) -> None:
    con.execute(KEY_DDL)
    con.execute(f"delete from {KEY_TABLE}")
    con.execute(
        f"insert into {KEY_TABLE} values ($f, $n, now()::timestamp)",
        {"f": key.fingerprint, "n": len(key.secrets)},
    )


__all__ = [
    "KeyMismatchError",
    "LoadKey",
    "PseudonymKeyError",
    "bind_key",
    "key_for_load",
    "recorded_fingerprint",
    "rotation_leftover",
    "set_fingerprint",
]

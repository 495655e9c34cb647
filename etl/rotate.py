"""Rotate the pseudonym key: re-key every pseudonym in the warehouse in one atomic step.

    rotate_key(db_path=Path("data/warehouse.duckdb"), key_file=Path("data/pseudonym.key"))

The warehouse holds pseudonyms, not ids, so a rotation cannot hash the ids again. It appends a
fresh secret to the key and maps every stored pseudonym p of kind k to
prefix + HMAC(new secret, k + ":" + p) (etl/pseudonym.py), which later loads reproduce by hashing
an id through every secret in turn.

Like a load, it takes the writer lock, builds the re-keyed warehouse in a copy, and swaps it in
with os.replace(). The new key is written to `<key>.rotated` before the swap and renamed over the
key file after it: the key file changes only when the swap succeeded, and a rotation killed
between the two leaves the new key in `<key>.rotated` (a load then says so).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from etl.contract import TABLES
from etl.load import _TEMP_MARK, LoadError, _counter, _fsync, _remove, _temp_files, _writer_lock
from etl.pseudonym import (
    HEX_CHARS,
    PREFIX,
    PseudonymKeyError,
    hmac_layer_sql,
    key_params,
    read_key,
    write_key,
)
from etl.warehouse_key import recorded_fingerprint, rotation_leftover, set_fingerprint


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: the fingerprints before and after, and the values it re-keyed."""

    db_path: Path
    key_file: Path
    old_fingerprint: str
    new_fingerprint: str
    values: int


def _pseudonym_columns() -> list[tuple[str, str, str]]:
    """(table, column, kind) of every pseudonymised column the warehouse stores."""
    columns = [
        (spec.name, column.name, column.privacy)
        for spec in TABLES
        for column in spec.stored_columns
        if column.privacy in ("application", "candidate")
    ]
    return [*columns, ("demographic_attributes", "candidate_id", "candidate")]


def _rekey_sql(kind: str, expr: str, layer: int) -> str:
    return hmac_layer_sql(kind, expr, layer)  # type: ignore[arg-type]


def _rejects_sql(layer: int) -> str:
    """original_text is `column=value, ...`; the parts that are a stored pseudonym are re-keyed.

    A part is re-keyed only when it is exactly `application_id=a_<20 hex>` or
    `candidate_id=c_<20 hex>`, the form the load writes; splitting and joining on ', ' gives the
    text back unchanged everywhere else.
    """
    parts = []
    for column, kind in (("application_id", "application"), ("candidate_id", "candidate")):
        pattern = f"^{column}={PREFIX[kind]}[0-9a-f]{{{HEX_CHARS}}}$"  # type: ignore[index]
        value = f"substr(part, {len(column) + 2})"
        parts.append(
            f"when regexp_full_match(part, '{pattern}') "
            f"then '{column}=' || {_rekey_sql(kind, value, layer)}"
        )
    return (
        "array_to_string(list_transform(string_split(original_text, ', '), "
        f"lambda part: case {' '.join(parts)} else part end), ', ')"
    )


def rotate_key(*, db_path: Path, key_file: Path) -> Rotation:
    """Append a secret to `key_file` and re-key `db_path` with it, atomically.

    Raises LoadError (one line) when the warehouse or key is missing or they do not match.
    """
    db_path, key_file = Path(db_path), Path(key_file)
    if not db_path.exists():
        raise LoadError(f"warehouse {db_path} does not exist: nothing to re-key")
    try:
        key = read_key(key_file)
    except PseudonymKeyError as error:
        raise LoadError(f"{error}: the rotation needs the warehouse's current key") from None
    new = key.rotated()
    leftover = rotation_leftover(key_file)
    values = 0
    with _writer_lock(db_path):
        for stale in _temp_files(db_path):
            _remove(stale)
        temp = db_path.with_name(f"{db_path.name}{_TEMP_MARK}{os.getpid()}-{next(_counter)}")
        try:
            shutil.copyfile(db_path, temp)
            wal = db_path.with_name(db_path.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, temp.with_name(temp.name + ".wal"))
            con = duckdb.connect(str(temp))
            try:
                recorded = recorded_fingerprint(con)
                if recorded is not None and recorded != key.fingerprint:
                    raise LoadError(
                        f"pseudonym key {key_file} (fingerprint {key.fingerprint}) is not the key "
                        f"of {db_path} (fingerprint {recorded}); nothing was changed"
                    )
                layer = len(new.secrets) - 1
                params = {k: v for k, v in key_params(new).items() if k.endswith(f"_{layer}")}
                con.execute("begin transaction")
                for table, column, kind in _pseudonym_columns():
                    values += con.execute(
                        f'update {table} set "{column}" = {_rekey_sql(kind, f"{column}", layer)} '
                        f'where "{column}" is not null',
                        params,
                    ).fetchall()[0][0]
                con.execute(
                    f"update rejects set original_text = {_rejects_sql(layer)} "
                    "where original_text is not null",
                    params,
                )
                set_fingerprint(con, new)
                con.execute("commit")
                con.execute("checkpoint")
            finally:
                con.close()
            _fsync(temp)
            write_key(leftover, new, replace=True)
            os.replace(temp, db_path)
            _fsync(db_path.parent)
            os.replace(leftover, key_file)
            _fsync(key_file.parent)
        finally:
            for left in (temp, *(temp.with_name(temp.name + s) for s in (".wal", ".tmp"))):
                _remove(left)
    return Rotation(db_path, key_file, key.fingerprint, new.fingerprint, int(values))

"""`signalboard query NAME|FILE`: run a library query or a .sql file through the sandbox.

    signalboard query funnel_by_source --param start_date=2024-01-01 --param roles=data_analyst
    signalboard query my_check.sql --format csv --out check.csv
    signalboard query --list

Library queries and ad-hoc files both run through `signalboard.sandbox` (read-only, no file or
network access, one SELECT, timeout, row cap). Errors are one line on stderr: exit status 2 for a
usage problem (unknown query, missing/unknown/malformed parameter, refused statement), 1 for a
query that failed while running (SQL error, timeout, memory limit, no warehouse).
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from signalboard.csv_safety import to_csv_bytes
from signalboard.queries import Query, QueryError, list_queries, load_query, parse_query_file
from signalboard.sandbox import SandboxError, SandboxResult, run_sandboxed
from signalboard.settings import Settings

FORMATS = ("table", "csv", "json", "parquet")

# Refusals and parameter problems are the user's to fix (2); the rest failed while running (1).
_RUNTIME_REASONS = {"timeout", "memory", "sql_error", "missing_warehouse", "worker"}

_ANY_HEADER = re.compile(r"^--\s*(grain|title|description|param):")


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `signalboard query` (wired in signalboard/cli.py)."""
    parser.add_argument(
        "target",
        nargs="?",
        metavar="NAME|FILE",
        help="a query of the library (queries/NAME.sql) or a path to a .sql file",
    )
    parser.add_argument(
        "--db", help="warehouse file (default data/warehouse.duckdb or SIGNALBOARD_DB)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter value, typed by the query's header (repeatable); "
        "lists are comma-separated, `null` means no value",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="output format (default table; parquet needs --out)",
    )
    parser.add_argument("--out", metavar="FILE", help="write the result to FILE instead of stdout")
    parser.add_argument(
        "--list", action="store_true", help="list the library's queries and their parameters"
    )


def parse_param_args(items: Sequence[str]) -> dict[str, str]:
    """`["a=1", "b=x,y"]` as `{"a": "1", "b": "x,y"}`; raises QueryError when malformed."""
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise QueryError(f"--param expects NAME=VALUE, got {item!r}")
        if name in values:
            raise QueryError(f"parameter {name} given twice")
        values[name] = value
    return values


def load_target(target: str, *, settings: Settings) -> Query:
    """A library query by name, or a .sql file by path (a file without any header is allowed)."""
    path = Path(target)
    if path.suffix != ".sql" and not path.is_file():
        return load_query(target, queries_dir=settings.queries_dir)
    if not path.is_file():
        raise QueryError(f"no such file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise QueryError(
            f"{path} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}); save it as UTF-8"
        ) from None
    except OSError as error:
        raise QueryError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return parse_query_file(path)
    except QueryError:
        if any(_ANY_HEADER.match(line) for line in text.splitlines()):
            raise  # a header was meant but is incomplete: say what is missing
        # A plain ad-hoc file: no declared parameters, so it may use none.
        return Query(
            name=path.stem,
            path=path,
            sql=text,
            title=path.stem,
            grain="",
            description="",
            params=(),
        )


def run_library_query(
    query: Query, values: dict[str, Any] | None = None, *, settings: Settings
) -> SandboxResult:
    """Bind `values` by the query's declared types (defaults for the rest) and run it sandboxed."""
    return run_sandboxed(query.sql, query.bind(values), settings=settings)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return str(value)


def render(result: SandboxResult, fmt: str) -> bytes:
    """The result in one of FORMATS, as bytes ready to write."""
    if fmt == "parquet":
        return result.to_parquet_bytes()
    if fmt == "csv":
        # Formula-like text is prefixed with ' (OWASP CSV injection rule); numbers stay exact.
        return to_csv_bytes(result.frame)
    if fmt == "json":
        # Through Arrow's Python values, so dates stay dates ("2024-01-31"), not midnight times.
        rows = result.arrow.to_pylist()
        return (json.dumps(rows, default=_json_default, allow_nan=False) + "\n").encode("utf-8")
    if result.frame.empty:
        return ("(no rows) columns: " + ", ".join(map(str, result.frame.columns)) + "\n").encode()
    return (result.frame.to_string(index=False) + "\n").encode("utf-8")


def _list_text(queries: list[Query]) -> str:
    lines = []
    for query in queries:
        lines.append(f"{query.name}  -  {query.title}")
        lines.append(f"    {query.grain}")
        for param in query.params:
            default = "null" if param.default is None else param.default
            if isinstance(default, list):
                default = ",".join(default)
            doc = f"  {param.description}" if param.description else ""
            lines.append(f"    --param {param.name}=<{param.type}> (default {default}){doc}")
    return "\n".join(lines) + "\n"


def _error(message: str) -> None:
    print(f"signalboard: error: {message}", file=sys.stderr)


def run_query_command(args: argparse.Namespace, *, settings: Settings) -> int:
    """Handle `signalboard query`; returns the exit status."""
    try:
        if args.list:
            print(_list_text(list_queries(queries_dir=settings.queries_dir)), end="")
            return 0
        if not args.target:
            raise QueryError("name a query or a .sql file, or use --list")
        if args.format == "parquet" and not args.out:
            raise QueryError("--format parquet writes a binary file: add --out FILE")
        query = load_target(args.target, settings=settings)
        result = run_library_query(query, parse_param_args(args.param), settings=settings)
    except QueryError as error:
        _error(str(error))
        return 2
    except SandboxError as error:
        _error(str(error))
        return 1 if error.reason in _RUNTIME_REASONS else 2
    payload = render(result, args.format)
    if args.out:
        try:
            Path(args.out).write_bytes(payload)
        except OSError as error:
            _error(f"cannot write {args.out}: {error.strerror or error}")
            return 1
        print(f"{len(result.frame)} rows written to {args.out}", file=sys.stderr)
    else:
        try:
            sys.stdout.write(payload.decode("utf-8"))
            sys.stdout.flush()
        except BrokenPipeError:
            # `signalboard query ... | head`: the reader has what it wanted; no traceback.
            return 0
    if result.notice:
        print(f"signalboard: {result.notice}", file=sys.stderr)
    return 0

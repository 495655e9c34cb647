"""Run one analyst-supplied SQL statement safely against the warehouse.

Every run gets its own connection from `signalboard.db.connect_sandbox`: read-only, external
access disabled (no file reads or writes, ATTACH, COPY, INSTALL or LOAD), extension autoloading
off, memory and thread limits from settings, configuration locked. On top of what DuckDB enforces,
the sandbox

- parses the text first and runs exactly one statement, and only a SELECT (which includes
  `with ...`, `from ...`, `values`, `describe`, `show` and `summarize`), so a refusal names the
  problem before anything reaches the warehouse;
- denies by default what the statement may read: every operator of its bound (unoptimized)
  logical plan must be a relational operator or one of `ALLOWED_TABLE_FUNCTIONS` (table scans,
  `range`, `unnest`, the catalog listings), so file readers (`read_duckdb`, `read_blob`,
  `read_text`, `glob`, ...), `duckdb_databases()` and `duckdb_settings()` (paths),
  `pragma_storage_info` (per-segment min/max) and any function DuckDB adds later are refused;
  scalar functions named in `DENIED_FUNCTIONS` are refused from the parsed statement;
- runs the statement in a worker process (forked from a clean fork server, so it is cheap and
  shares nothing with the caller's threads): a timer thread in the worker interrupts DuckDB at
  `settings.sql_timeout_seconds`, and the caller kills the worker shortly after that deadline for
  work DuckDB does not interrupt (one long `levenshtein` call, for example);
- stops reading after `settings.sql_max_rows` rows or `settings.sql_max_bytes` bytes of Arrow
  data, whichever comes first, and says which cap cut the result.

Every failure, the worker's included, reaches the caller as a SandboxError with a one-line
message.

Library queries (queries/*.sql) and ad-hoc text go through `run_sandboxed` alike.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import multiprocessing.context
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import duckdb

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    # Imported where results are built: the CLI builds its parser from this module, and pandas
    # and pyarrow would add their import time to every `signalboard` start (the load's included).
    import pandas as pd
    import pyarrow as pa

from signalboard.db import WarehouseMissingError, connect_sandbox
from signalboard.settings import Settings

RefusalReason = Literal[
    "empty",
    "syntax",
    "statement_count",
    "statement_type",
    "parameters",
    "file_access",
    "configuration",
    "read_only",
    "timeout",
    "memory",
    "missing_warehouse",
    "sql_error",
    "demographics",
    "function",
    "worker",
]

# Self-identification tables: ad-hoc results leave the system unsuppressed (screen, CSV,
# Parquet), so row-level demographics stay out of the sandbox unless an administrator sets
# SIGNALBOARD_SQL_ALLOW_DEMOGRAPHICS=true. The Fairness, Funnel, Assessors and Stipends pages
# show them as suppressed aggregates.
PROTECTED_TABLES: frozenset[str] = frozenset({"demographics", "demographic_attributes"})

# Table functions ad-hoc SQL may read from, by the name DuckDB gives their logical-plan operator
# (LogicalGet is named after its function, upper-cased; a table scan is `seq_scan`). None reads a
# file, names a path or exposes storage internals. Everything else is refused, including what a
# later DuckDB adds.
ALLOWED_TABLE_FUNCTIONS: frozenset[str] = frozenset(
    {
        "seq_scan",
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        # The catalog listings behind `show tables`, `describe` and information_schema views.
        "duckdb_tables",
        "duckdb_columns",
        "duckdb_views",
        "duckdb_schemas",
        "duckdb_constraints",
        "duckdb_indexes",
        "duckdb_types",
        "duckdb_functions",
        "duckdb_keywords",
    }
)

# The relational operators of a bound logical plan, as DuckDB's EXPLAIN (FORMAT JSON) names them
# (LogicalOperatorType without the LOGICAL_ prefix, plus REC_CTE, CTE and CTE_SCAN). No table
# function has one of these names except `unnest`, which is allowed anyway.
_RELATIONAL_OPERATORS: frozenset[str] = frozenset(
    {
        "PROJECTION",
        "FILTER",
        "AGGREGATE",
        "WINDOW",
        "UNNEST",
        "LIMIT",
        "ORDER_BY",
        "TOP_N",
        "DISTINCT",
        "SAMPLE",
        "PIVOT",
        "COMPARISON_JOIN",
        "ANY_JOIN",
        "CROSS_PRODUCT",
        "POSITIONAL_JOIN",
        "ASOF_JOIN",
        "DEPENDENT_JOIN",
        "DELIM_JOIN",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "REC_CTE",
        "CTE",
        "CTE_SCAN",
        "CHUNK_GET",
        "DELIM_GET",
        "EXPRESSION_GET",
        "DUMMY_SCAN",
        "EMPTY_RESULT",
    }
)

# Functions refused wherever they appear in the parsed statement. `current_setting` discloses
# paths: DuckDB lists the attached warehouse and its WAL in `allowed_paths` and refuses to change
# that setting once external access is off. `query` runs SQL from a string, which the parsed
# statement cannot see into (the bound plan still can: table functions inside it are checked).
DENIED_FUNCTIONS: frozenset[str] = frozenset({"current_setting", "query"})

# Why each refused statement type is refused, in words an analyst can act on.
_TYPE_REASONS: dict[str, str] = {
    "COPY": "COPY reads or writes files",
    "COPY_DATABASE": "COPY reads or writes files",
    "EXPORT": "EXPORT DATABASE writes files",
    "ATTACH": "ATTACH opens another database",
    "DETACH": "DETACH changes the attached databases",
    "INSTALL/LOAD": "extensions cannot be installed or loaded",
    "EXTENSION": "extensions cannot be installed or loaded",
    "SET": "SET and RESET change the configuration, which is locked",
    "VARIABLE_SET": "SET VARIABLE changes session state",
    "PRAGMA": "PRAGMA statements change the configuration or the database",
    "CREATE": "CREATE changes the warehouse, which is read-only",
    "CREATE_FUNC": "CREATE MACRO/FUNCTION changes the warehouse, which is read-only",
    "DROP": "DROP changes the warehouse, which is read-only",
    "ALTER": "ALTER changes the warehouse, which is read-only",
    "INSERT": "INSERT changes the warehouse, which is read-only",
    "UPDATE": "UPDATE changes the warehouse, which is read-only",
    "DELETE": "DELETE changes the warehouse, which is read-only",
    "MERGE_INTO": "MERGE changes the warehouse, which is read-only",
    "VACUUM": "VACUUM changes the warehouse, which is read-only",
    "ANALYZE": "ANALYZE changes the warehouse's statistics",
    "TRANSACTION": "transactions are managed by the sandbox",
    "CALL": "CALL runs table functions that can have side effects; use `select * from f()`",
    "PREPARE": "PREPARE/EXECUTE are not needed: bind parameters as $name",
    "EXECUTE": "PREPARE/EXECUTE are not needed: bind parameters as $name",
    "EXPLAIN": "EXPLAIN ANALYZE runs the statement; only plain SELECT queries run here",
}

_ALLOWED = (duckdb.StatementType.SELECT,)

# Batches read from the result stream; small enough that the caps stop reading promptly.
_BATCH_ROWS = 2048

# How long the caller waits past the deadline for the worker's own interrupt to report, before
# it kills the worker.
_KILL_GRACE_SECONDS = 0.5

CapKind = Literal["rows", "bytes"]


class SandboxError(Exception):
    """A statement the sandbox refused or could not finish; `str()` is the message to show."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason


@dataclass(frozen=True)
class SandboxResult:
    """What one sandboxed run returned."""

    frame: pd.DataFrame
    arrow: pa.Table = field(repr=False)
    capped: bool
    max_rows: int
    elapsed_seconds: float
    capped_by: CapKind | None = None
    max_bytes: int = 0

    @property
    def notice(self) -> str | None:
        """A sentence to show with the result when it was cut at a cap (naming which), else None."""
        if not self.capped:
            return None
        if self.capped_by == "bytes":
            limit = f"{self.max_bytes / 1e6:,.1f} MB of data (SIGNALBOARD_SQL_MAX_BYTES)"
        else:
            limit = f"{self.max_rows:,} rows (SIGNALBOARD_SQL_MAX_ROWS)"
        return (
            f"Result capped at {limit}; the query returns more. Aggregate, filter, select fewer "
            "columns or add a limit to see all of it."
        )

    def to_parquet_bytes(self) -> bytes:
        """The result as a Parquet file (types kept from DuckDB via Arrow)."""
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(self.arrow, buffer)
        return buffer.getvalue()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_statement(sql: str) -> duckdb.Statement:
    """The single SELECT statement in `sql`; raises SandboxError naming why anything else is refused."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise SandboxError("syntax", f"SQL syntax error: {_first_line(error)}") from None
    if not statements:
        raise SandboxError("empty", "No SQL to run: write one SELECT statement.")
    if len(statements) > 1:
        raise SandboxError(
            "statement_count",
            f"Refused: {len(statements)} statements; the sandbox runs exactly one statement per "
            "run. Remove the extra ';'-separated statements.",
        )
    statement = statements[0]
    if statement.type not in _ALLOWED:
        # DuckDB files INSTALL under the LOAD statement type; name both so the message matches.
        kind = "INSTALL/LOAD" if statement.type.name == "LOAD" else statement.type.name
        why = _TYPE_REASONS.get(kind, "only read-only SELECT queries run here")
        raise SandboxError(
            "statement_type",
            f"Refused: {kind} statement ({why}). The sandbox runs one read-only SELECT query.",
        )
    return statement


def _bind(statement: duckdb.Statement, params: Mapping[str, Any] | None) -> dict[str, Any]:
    given = dict(params or {})
    used = set(statement.named_parameters)
    missing = sorted(used - set(given))
    if missing:
        names = ", ".join(f"${name}" for name in missing)
        raise SandboxError(
            "parameters",
            f"Missing parameter {names}: the SQL uses it but no value was given "
            "(a .sql file declares each one in its header: `-- param: NAME TYPE = DEFAULT`).",
        )
    # Values for parameters the statement does not use are left out: DuckDB refuses them, and a
    # page passes the global filters to every query whether it uses them or not.
    return {name: given[name] for name in used}


def _translate(error: duckdb.Error, *, settings: Settings) -> SandboxError:
    """A DuckDB error as the sandbox's message, naming the rule that stopped the statement."""
    detail = _first_line(error)
    if isinstance(error, duckdb.InterruptException):
        return SandboxError(
            "timeout",
            f"Stopped: the query ran longer than the {settings.sql_timeout_seconds:g} s limit "
            "(SIGNALBOARD_SQL_TIMEOUT_SECONDS). Filter earlier or aggregate before joining.",
        )
    if isinstance(error, duckdb.OutOfMemoryException):
        return SandboxError(
            "memory",
            f"Stopped: the query needs more than the {settings.sql_memory_limit} memory limit "
            f"(SIGNALBOARD_SQL_MEMORY_LIMIT). {detail}",
        )
    if isinstance(error, duckdb.PermissionException):
        return SandboxError(
            "file_access",
            f"Refused: the sandbox has no access to files, other databases or extensions. {detail}",
        )
    if "configuration has been locked" in detail:
        return SandboxError("configuration", f"Refused: the configuration is locked. {detail}")
    if "read-only" in detail:
        return SandboxError("read_only", f"Refused: the warehouse is read-only here. {detail}")
    return SandboxError("sql_error", f"SQL error: {detail}")


def _plan_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for child in node:
            yield from _plan_nodes(child)
    elif isinstance(node, dict):
        yield node
        yield from _plan_nodes(node.get("children", []))


def _logical_plan(
    con: duckdb.DuckDBPyConnection, query: str, params: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The statement's unoptimized logical plan (the connection sets `explain_output = 'all'`).

    The plan is bound, so it sees through CTEs, subqueries, views, qualified names, `query(...)`
    and `query_table('demo' || 'graphics')`; the unoptimized plan keeps scans that the optimizer
    would prune (a filter that statistics prove empty).
    """
    rows = con.execute("explain (format json) " + query, dict(params or {})).fetchall()
    nodes: list[dict[str, Any]] = []
    found = False
    for kind, plan in rows:
        if kind == "logical_plan":
            found = True
            nodes.extend(_plan_nodes(json.loads(plan)))
    if not found:
        raise SandboxError("function", "Refused: the sandbox could not read the statement's plan.")
    return nodes


def _tables(nodes: list[dict[str, Any]]) -> set[str]:
    tables: set[str] = set()
    for node in nodes:
        table = (node.get("extra_info") or {}).get("Table")
        if isinstance(table, str) and table:
            tables.add(table.rsplit(".", 1)[-1].lower())
    return tables


def referenced_tables(
    con: duckdb.DuckDBPyConnection, query: str, params: Mapping[str, Any] | None
) -> set[str]:
    """Every table a statement scans, read from its bound, unoptimized logical plan."""
    return _tables(_logical_plan(con, query, params))


def _function_names(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for child in node:
            yield from _function_names(child)
    elif isinstance(node, dict):
        if node.get("class") == "FUNCTION" and isinstance(node.get("function_name"), str):
            yield node["function_name"].lower()
        for value in node.values():
            if isinstance(value, dict | list):
                yield from _function_names(value)


def _check_functions(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Refuse a statement that calls one of DENIED_FUNCTIONS anywhere (parsed, not bound).

    Scalar calls do not show reliably in EXPLAIN's text (filters and join conditions print no
    expressions), so they are read from the parse tree that `json_serialize_sql` returns.
    """
    serialized = con.execute("select json_serialize_sql($sql)", {"sql": query}).fetchone()
    tree = json.loads(serialized[0]) if serialized else {"error": True}
    if tree.get("error"):
        raise SandboxError(
            "statement_type",
            "Refused: the sandbox cannot inspect this statement form "
            f"({tree.get('error_message', 'not serializable')}); write it as a plain SELECT.",
        )
    denied = sorted(set(_function_names(tree.get("statements", []))) & DENIED_FUNCTIONS)
    if denied:
        raise SandboxError(
            "function",
            f"Refused: {', '.join(f'{name}()' for name in denied)} is not available in ad-hoc SQL "
            "(it discloses server paths or runs SQL from a string).",
        )


def check_plan(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: Mapping[str, Any] | None,
    *,
    allow_demographics: bool,
) -> None:
    """Refuse a statement that reads anything but allowed tables through allowed functions.

    Raises SandboxError ("function" for a table function or operator off the allow-list,
    "file_access" for a file reader, "demographics" for a protected table).
    """
    _check_functions(con, query)
    nodes = _logical_plan(con, query, params)
    for node in nodes:
        name = str(node.get("name", ""))
        if name in _RELATIONAL_OPERATORS or name.lower() in ALLOWED_TABLE_FUNCTIONS:
            continue
        function = name.lower()
        if function.startswith(("read_", "parquet_", "sniff_")) or function == "glob":
            raise SandboxError(
                "file_access",
                f"Refused: {function}() reads files; the sandbox has no access to files, other "
                "databases or extensions.",
            )
        raise SandboxError(
            "function",
            f"Refused: {function}() is not one of the table functions ad-hoc SQL may use "
            f"({', '.join(sorted(ALLOWED_TABLE_FUNCTIONS - {'seq_scan'}))}, and tables).",
        )
    protected = _tables(nodes) & PROTECTED_TABLES
    if protected and not allow_demographics:
        raise SandboxError(
            "demographics",
            f"Refused: {', '.join(sorted(protected))} holds row-level self-identification, "
            "which ad-hoc SQL does not read (results leave the system unsuppressed). Use the "
            "Fairness page for suppressed aggregates, or ask an administrator to set "
            "SIGNALBOARD_SQL_ALLOW_DEMOGRAPHICS=true.",
        )


def _timeout_error(settings: Settings) -> SandboxError:
    return SandboxError(
        "timeout",
        f"Stopped: the query ran longer than the {settings.sql_timeout_seconds:g} s limit "
        "(SIGNALBOARD_SQL_TIMEOUT_SECONDS). Filter earlier or aggregate before joining.",
    )


def _execute(
    query: str, bound: dict[str, Any], *, settings: Settings, deadline: float
) -> tuple[bytes, CapKind | None]:
    """Check and run the statement; the result as an Arrow IPC stream, and the cap that cut it.

    Runs in the worker process. `deadline` is a `time.monotonic()` value (one clock for every
    process on the machine).
    """
    import pyarrow as pa

    try:
        con = connect_sandbox(
            settings.db_path, memory_limit=settings.sql_memory_limit, threads=settings.sql_threads
        )
    except WarehouseMissingError as error:
        raise SandboxError("missing_warehouse", str(error)) from None
    interrupted = threading.Event()

    def interrupt() -> None:
        interrupted.set()
        con.interrupt()

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), interrupt)
    timer.daemon = True
    timer.start()
    try:
        check_plan(con, query, bound, allow_demographics=settings.sql_allow_demographics)
        relation = con.sql(query, params=bound or None)
        if relation is None:  # only statements that return nothing; SELECT always returns rows
            raise SandboxError("statement_type", "Refused: the statement returns no rows.")
        reader = relation.to_arrow_reader(_BATCH_ROWS)
        batches: list[pa.RecordBatch] = []
        rows = size = 0
        capped_by: CapKind | None = None
        for batch in reader:
            keep = min(batch.num_rows, settings.sql_max_rows - rows)
            if keep < batch.num_rows:
                capped_by = "rows"
            if keep and size + batch.slice(0, keep).nbytes > settings.sql_max_bytes:
                # The most rows that fit, in bytes as Arrow counts them (a slice counts only its
                # own rows): a binary search over slices, which copy nothing.
                low, high = 0, keep - 1
                while low < high:
                    middle = (low + high + 1) // 2
                    if size + batch.slice(0, middle).nbytes <= settings.sql_max_bytes:
                        low = middle
                    else:
                        high = middle - 1
                keep = low
                capped_by = "bytes"
            if keep:
                piece = batch.slice(0, keep)
                batches.append(piece)
                rows += keep
                size += piece.nbytes
            if capped_by is not None:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes(), capped_by
    except duckdb.Error as error:
        if interrupted.is_set():
            raise _timeout_error(settings) from None
        raise _translate(error, settings=settings) from None
    except (OSError, pa.ArrowException) as error:
        # An interrupt while the Arrow stream is read surfaces from pyarrow as an OSError.
        if interrupted.is_set():
            raise _timeout_error(settings) from None
        raise SandboxError("sql_error", f"SQL error: {_first_line(error)}") from None
    finally:
        timer.cancel()
        con.close()


def _worker(conn: Connection, query: str, bound: dict[str, Any], settings: Settings) -> None:
    """The worker process's body: say when the clock starts, run the statement, send one outcome.

    The time limit is the statement's: it starts here, once the worker runs, so a slow process
    start on a busy server does not eat into it (time.monotonic is one system-wide clock on
    Linux, CLOCK_MONOTONIC, so the caller can wait for the same deadline).
    """
    deadline = time.monotonic() + settings.sql_timeout_seconds
    try:
        conn.send(("started", deadline))
    except OSError:
        conn.close()
        return
    outcome: tuple[Any, ...]
    try:
        data, capped_by = _execute(query, bound, settings=settings, deadline=deadline)
        outcome = ("ok", data, capped_by)
    except SandboxError as error:
        outcome = ("error", error.reason, str(error))
    except MemoryError:
        outcome = ("error", "memory", "Stopped: the result does not fit in the worker's memory.")
    except Exception as error:  # noqa: BLE001 - the caller shows one line, never a traceback
        outcome = ("error", "sql_error", f"SQL error: {_first_line(error)}")
    try:
        conn.send(outcome)
    except OSError:
        pass  # the caller has stopped waiting (it killed us or gave up)
    finally:
        conn.close()


_CONTEXT: multiprocessing.context.BaseContext | None = None

# How long a worker may take to start (a fork from the preloaded server; longer on a busy box).
_WORKER_START_SECONDS = 60.0


def _context() -> multiprocessing.context.BaseContext:
    """A fork-server context whose server has imported DuckDB, pyarrow and this module.

    `fork` would copy the caller's threads' locks (the dashboard serves from many threads) and
    `spawn` re-imports DuckDB and pyarrow for every query; forking from a single-threaded server
    that has them imported costs milliseconds (docs/performance.md has the numbers).
    """
    global _CONTEXT
    if _CONTEXT is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["signalboard.sandbox", "pyarrow", "pyarrow.ipc"])
        _CONTEXT = context
    return _CONTEXT


def run_sandboxed(
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    settings: Settings,
) -> SandboxResult:
    """Run one SELECT statement on a fresh sandboxed connection to `settings.db_path`.

    Parameters
    ----------
    sql
        One statement; `$name` placeholders are bound from `params`.
    params
        Values by name. Names the statement does not use are ignored; a used one that is missing
        is refused.
    settings
        Warehouse path and the limits: `sql_memory_limit`, `sql_threads`, `sql_timeout_seconds`,
        `sql_max_rows`, `sql_max_bytes`.

    Returns
    -------
    SandboxResult
        At most `sql_max_rows` rows and `sql_max_bytes` bytes, with `capped` and `capped_by`
        set when the query returned more.

    Raises
    ------
    SandboxError
        With a one-line message, for every refusal, timeout, SQL error and worker failure.

    Examples
    --------
    >>> result = run_sandboxed("select 40 + $n as answer", {"n": 2}, settings=settings)
    >>> int(result.frame["answer"].iloc[0])
    42
    """
    statement = check_statement(sql)
    bound = _bind(statement, params)
    started = time.monotonic()
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_worker,
        args=(sender, statement.query, bound, settings),
        name="signalboard-sandbox",
        daemon=True,
    )
    outcome: tuple[Any, ...] | None = None
    exitcode: int | None = None
    try:
        process.start()
    except (OSError, RuntimeError) as error:
        receiver.close()
        sender.close()
        raise SandboxError(
            "worker", f"Stopped: the query's worker process did not start ({_first_line(error)})."
        ) from None
    # Until the worker reports in, the statement's clock has not started.
    deadline = started + _WORKER_START_SECONDS + settings.sql_timeout_seconds
    try:
        sender.close()
        if receiver.poll(_WORKER_START_SECONDS):
            first = receiver.recv()
            if first[0] == "started":
                deadline = first[1]
                if receiver.poll(max(0.0, deadline + _KILL_GRACE_SECONDS - time.monotonic())):
                    outcome = receiver.recv()
            else:
                outcome = first
    except (EOFError, OSError):
        outcome = None  # the worker died without an answer
    finally:
        receiver.close()
        process.join(timeout=_KILL_GRACE_SECONDS if outcome is not None else 0)
        if process.is_alive():
            process.kill()
            process.join()
        exitcode = process.exitcode
        process.close()
    if outcome is None:
        if time.monotonic() >= deadline:
            raise _timeout_error(settings)
        raise SandboxError(
            "worker",
            "Stopped: the query's worker process ended without a result "
            f"(exit status {exitcode}); it may have run out of memory.",
        )
    if outcome[0] == "error":
        raise SandboxError(outcome[1], outcome[2])
    import pyarrow as pa

    _, data, capped_by = outcome
    table = pa.ipc.open_stream(data).read_all()
    return SandboxResult(
        frame=table.to_pandas(),
        arrow=table,
        capped=capped_by is not None,
        max_rows=settings.sql_max_rows,
        elapsed_seconds=time.monotonic() - started,
        capped_by=capped_by,
        max_bytes=settings.sql_max_bytes,
    )

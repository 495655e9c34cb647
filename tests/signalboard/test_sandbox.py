"""The ad-hoc SQL sandbox (signalboard.sandbox): every escape refused, the warehouse unchanged.

The warehouse here is a small hand-made one (etl.warehouse.create_schema plus a few rows), so the
escapes are tested without depending on the sample load.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from etl.warehouse import connect_writable, create_schema
from signalboard.db import connect_readonly, connect_sandbox
from signalboard.sandbox import SandboxError, check_statement, run_sandboxed
from signalboard.settings import Settings


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sandbox")
    path = folder / "warehouse.duckdb"
    con = connect_writable(path)
    create_schema(con)
    con.execute(
        "insert into cohorts values ('c1', 'data_analyst', 'Churn', date '2024-01-08', "
        "date '2024-01-19', 'v1', 10.0)"
    )
    con.execute(
        "insert into applications select 'a' || range, 'p' || range, 'micro_internship', 'c1', "
        "'data_analyst', timestamp '2024-01-01' + to_hours(range), 'referral', 'US', null, null, "
        "500.0, 'USD', 9.5 from range(50)"
    )
    con.close()
    return path


@pytest.fixture
def settings(warehouse: Path, tmp_path: Path) -> Settings:
    return Settings(
        db_path=warehouse,
        pseudonym_key_file=tmp_path / "key",
        sql_timeout_seconds=5.0,
        sql_max_rows=1000,
    )


def fingerprint(path: Path) -> tuple[dict[str, tuple[int, str]], list[str], str]:
    """Row count and content checksum of every table, the folder's files, and the file's digest."""
    con = connect_readonly(path)
    try:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        state = {}
        for name in tables:
            count, digest = con.execute(
                f'select count(*), coalesce(sum(hash(t)), 0)::varchar from "{name}" t'
            ).fetchall()[0]
            state[name] = (count, digest)
    finally:
        con.close()
    files = sorted(p.name for p in path.parent.iterdir())
    return state, files, hashlib.sha256(path.read_bytes()).hexdigest()


ESCAPES = [
    # (what it tries, SQL, reason, words the message must contain)
    ("read a system file", "select * from read_csv('/etc/passwd')", "file_access", "no access"),
    ("read a file as text", "select * from read_text('/etc/hostname')", "file_access", "files"),
    ("list files", "select * from glob('/etc/*')", "file_access", "files"),
    ("write a file", "copy applications to '{dir}/leak.csv'", "statement_type", "COPY"),
    ("write via select", "copy (select 1) to '{dir}/leak.parquet'", "statement_type", "COPY"),
    ("export", "export database '{dir}/dump'", "statement_type", "EXPORT"),
    ("attach", "attach '{dir}/other.duckdb' as other", "statement_type", "ATTACH"),
    ("install", "install httpfs", "statement_type", "INSTALL/LOAD"),
    ("load", "load httpfs", "statement_type", "INSTALL/LOAD"),
    ("unlock", "set enable_external_access = true", "statement_type", "SET"),
    ("raise limits", "pragma threads = 8", "statement_type", "SET"),
    ("pragma", "pragma database_size", "statement_type", "PRAGMA"),
    ("call", "call pragma_version()", "statement_type", "CALL"),
    ("reset", "reset memory_limit", "statement_type", "SET"),
    ("two statements", "select 1; drop table applications", "statement_count", "2 statements"),
    ("drop", "drop table applications", "statement_type", "DROP"),
    ("create", "create table stolen as select * from applications", "statement_type", "CREATE"),
    ("insert", "insert into cohorts select * from cohorts", "statement_type", "INSERT"),
    ("delete", "delete from applications", "statement_type", "DELETE"),
    ("update", "update applications set role = 'x'", "statement_type", "UPDATE"),
    ("macro", "create macro f(x) as x", "statement_type", "CREATE"),
    ("query()", "select * from query('drop table applications')", "function", "query()"),
    ("syntax", "selec * from applications", "syntax", "syntax error"),
    ("nothing", "  ;  ", "empty", "No SQL"),
]


# Reads of the warehouse file, its WAL, the temp folder and the server's paths: each was possible
# through DuckDB's own functions (the attached file is in `allowed_paths`). {db} is the warehouse.
LEAKS = [
    (
        "read_duckdb the warehouse",
        "select * from read_duckdb('{db}', table_name='demographics')",
        "file_access",
        "files",
    ),
    ("read_blob the warehouse", "select * from read_blob('{db}')", "file_access", "files"),
    ("read_text the WAL", "select * from read_text('{db}.wal')", "file_access", "files"),
    ("read_text the warehouse", "select content from read_text('{db}')", "file_access", "files"),
    ("glob the temp folder", "select * from glob('.tmp/*')", "file_access", "files"),
    ("glob the warehouse folder", "select * from glob('{dir}/*')", "file_access", "files"),
    ("read_csv the warehouse", "select * from read_csv('{db}')", "file_access", "files"),
    ("read_parquet", "select * from read_parquet('{db}')", "file_access", "files"),
    ("database paths", "select path from duckdb_databases()", "function", "duckdb_databases()"),
    ("show databases", "show databases", "function", "duckdb_databases()"),
    ("settings", "select * from duckdb_settings()", "function", "duckdb_settings()"),
    ("profiling settings", "from duckdb_profiling_settings()", "function", "duckdb_settings()"),
    (
        "storage min/max",
        "select stats from pragma_storage_info('demographics')",
        "function",
        "pragma_storage_info()",
    ),
    ("storage of others", "from pragma_storage_info('applications')", "function", "pragma_"),
    ("database size", "from pragma_database_size()", "function", "pragma_database_size()"),
    ("temp files", "from duckdb_temporary_files()", "function", "duckdb_temporary_files()"),
    ("extensions", "from duckdb_extensions()", "function", "duckdb_extensions()"),
    ("secrets", "from duckdb_secrets()", "function", "duckdb_secrets()"),
    ("setting", "select current_setting('allowed_paths')", "function", "current_setting()"),
    (
        "setting in a join condition",
        "select count(*) from applications a join cohorts c "
        "on length(current_setting('allowed_paths')::varchar) > 0",
        "function",
        "current_setting()",
    ),
    (
        "setting in a table function argument",
        "select * from range(length(current_setting('temp_directory')))",
        "function",
        "current_setting()",
    ),
    ("hidden in query()", "select * from query('from duckdb_databases()')", "function", "query()"),
    (
        "a view over a file reader",
        "with t as (select * from read_blob('{db}')) select count(*) from t",
        "file_access",
        "files",
    ),
    (
        "in a subquery",
        "select (select count(*) from duckdb_databases()) as n",
        "function",
        "duckdb_databases()",
    ),
    (
        "sql from json",
        "from json_execute_serialized_sql(json_serialize_sql('select 1'))",
        "function",
        "json_execute_serialized_sql()",
    ),
]


@pytest.mark.parametrize(("what", "sql", "reason", "words"), LEAKS, ids=[r[0] for r in LEAKS])
def test_warehouse_file_and_paths_are_out_of_reach(
    settings: Settings, what: str, sql: str, reason: str, words: str
) -> None:
    """Nothing of the warehouse file, its folder or the server's paths comes back."""
    text = sql.format(db=settings.db_path, dir=settings.db_path.parent)
    with pytest.raises(SandboxError) as caught:
        run_sandboxed(text, settings=settings)
    message = str(caught.value)
    assert caught.value.reason == reason, message
    assert words in message
    assert "\n" not in message
    if str(settings.db_path.parent) not in text:
        assert str(settings.db_path.parent) not in message, "the message discloses a path"


@pytest.mark.parametrize(
    "sql",
    [
        "select * from read_duckdb('{db}', table_name='demographics')",
        "select octet_length(content) from read_blob('{db}')",
        "select * from read_text('{db}.wal')",
        "select * from glob('{dir}/*')",
    ],
)
def test_the_connection_itself_cannot_open_local_files(
    settings: Settings, raw_sandbox: duckdb.DuckDBPyConnection, sql: str
) -> None:
    """Second wall: even past the plan check, DuckDB opens no local path (the warehouse's own
    path included, although DuckDB keeps it in allowed_paths)."""
    with pytest.raises(duckdb.PermissionException, match="LocalFileSystem has been disabled"):
        raw_sandbox.execute(sql.format(db=settings.db_path, dir=settings.db_path.parent))
    # The attached warehouse still reads through the handle it holds.
    assert raw_sandbox.execute("select count(*) from applications").fetchall() == [(50,)]


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("select * from range(3)", 3),
        ("select * from generate_series(1, 3)", 3),
        ("select unnest([1, 2, 3]) as x", 3),
        ("select * from unnest([1, 2, 3])", 3),
        ("select * from repeat(1, 3)", 3),
        ("show tables", None),
        ("describe applications", None),
        ("summarize cohorts", None),
        ("select table_name from information_schema.tables", None),
        ("select column_name from information_schema.columns where table_name = 'cohorts'", None),
        ("select table_name from duckdb_tables()", None),
        (
            "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) "
            "select * from r",
            3,
        ),
        ("select * from query_table('cohorts')", 1),
        (
            # every application precedes the cohort's start, so each finds it
            "select a.role, count(*) over () from applications a "
            "asof join cohorts c on a.applied_at <= c.starts_on",
            50,
        ),
        ("select role from applications except select role from cohorts", 0),
        ("select current_database(), version()", 1),
    ],
)
def test_allowed_forms_still_run(settings: Settings, sql: str, rows: int | None) -> None:
    """Forms an analyst needs pass the walls and return their rows (None: at least one)."""
    frame = run_sandboxed(sql, settings=settings).frame
    if rows is None:
        assert len(frame) >= 1, sql
    else:
        assert len(frame) == rows, sql


def test_sampling_still_runs(settings: Settings) -> None:
    frame = run_sandboxed("select * from applications using sample 10%", settings=settings).frame
    assert 0 <= len(frame) <= 50
    assert "application_id" in frame.columns


@pytest.mark.parametrize(
    ("what", "sql", "reason", "words"), ESCAPES, ids=[row[0] for row in ESCAPES]
)
def test_escape_is_refused_and_nothing_changes(
    settings: Settings, what: str, sql: str, reason: str, words: str
) -> None:
    before = fingerprint(settings.db_path)
    with pytest.raises(SandboxError) as caught:
        run_sandboxed(sql.format(dir=settings.db_path.parent), settings=settings)
    assert caught.value.reason == reason, str(caught.value)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value), "messages are one line"
    assert fingerprint(settings.db_path) == before


def test_long_query_is_interrupted_by_the_timeout(settings: Settings) -> None:
    """A scan of 10^12 hashed rows would run for hours in constant memory; the timer stops it.

    (Constant memory on purpose: a join that materializes could reach the memory limit before
    the time limit on a fast machine, and the test would measure the wrong wall.)
    """
    short = dataclasses.replace(settings, sql_timeout_seconds=0.5)
    before = fingerprint(settings.db_path)
    with pytest.raises(SandboxError, match="ran longer than the 0.5 s limit") as caught:
        run_sandboxed(
            "select sum(hash(range)) from range(1000000000000)",
            settings=short,
        )
    assert caught.value.reason == "timeout"
    assert fingerprint(settings.db_path) == before
    # The next run opens its own connection and is not affected.
    assert run_sandboxed("select count(*) as n from applications", settings=short).frame[
        "n"
    ].tolist() == [50]


def test_memory_limit_stops_a_greedy_query(settings: Settings) -> None:
    """A 50-million-element list needs ~400 MB; the sandbox's limit here is 32 MB."""
    small = dataclasses.replace(settings, sql_memory_limit="32MB")
    before = fingerprint(settings.db_path)
    with pytest.raises(SandboxError, match="more than the 32MB memory limit") as caught:
        run_sandboxed(
            "select max(l[1]) from (select list(range) as l from range(50000000))", settings=small
        )
    assert caught.value.reason == "memory"
    assert fingerprint(settings.db_path) == before


@pytest.fixture
def raw_sandbox(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect_sandbox(settings.db_path, memory_limit="64MB", threads=1)
    try:
        yield con
    finally:
        con.close()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("copy applications to '{dir}/leak.csv'", "disabled by configuration"),
        ("attach '{dir}/other.duckdb' as other", "disabled by configuration"),
        ("load httpfs", "disabled through configuration"),
        ("install httpfs", "disabled by configuration"),
        ("set enable_external_access = true", "configuration has been locked"),
        ("set lock_configuration = false", "configuration has been locked"),
        ("set memory_limit = '64GB'", "configuration has been locked"),
        ("drop table applications", "read-only"),
        ("create table stolen(a int)", "read-only"),
    ],
)
def test_connection_itself_refuses_without_the_statement_check(
    settings: Settings, raw_sandbox: duckdb.DuckDBPyConnection, sql: str, message: str
) -> None:
    """Defence in depth: even if the statement check were bypassed, DuckDB's own settings refuse."""
    before = fingerprint(settings.db_path)
    with pytest.raises(duckdb.Error, match=message):
        raw_sandbox.execute(sql.format(dir=settings.db_path.parent))
    assert fingerprint(settings.db_path) == before


def test_sandbox_connection_settings(raw_sandbox: duckdb.DuckDBPyConnection) -> None:
    rows = dict(
        raw_sandbox.execute(
            "select name, value from duckdb_settings() where name in ("
            "'enable_external_access', 'lock_configuration', 'threads', "
            "'autoload_known_extensions', 'autoinstall_known_extensions', 'enable_progress_bar')"
        ).fetchall()
    )
    databases = raw_sandbox.execute(
        "select database_name, readonly from duckdb_databases() where not internal"
    ).fetchall()
    assert ("warehouse", True) in databases
    assert raw_sandbox.execute("select current_database()").fetchall() == [("warehouse",)]
    assert rows == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "threads": "1",
        "autoload_known_extensions": "false",
        "autoinstall_known_extensions": "false",
        "enable_progress_bar": "false",
    }


def test_select_runs_with_bound_parameters(settings: Settings) -> None:
    result = run_sandboxed(
        "select count(*) as n, $label as label from applications where applied_at < $cut",
        {"label": "early", "cut": pd.Timestamp("2024-01-01 10:00").to_pydatetime(), "unused": 1},
        settings=settings,
    )
    assert result.frame.to_dict("records") == [{"n": 10, "label": "early"}]
    assert not result.capped and result.notice is None


def test_docstring_example(settings: Settings) -> None:
    result = run_sandboxed("select 40 + $n as answer", {"n": 2}, settings=settings)
    assert int(result.frame["answer"].iloc[0]) == 42


@pytest.mark.parametrize(
    ("max_rows", "rows", "capped"),
    [(10, 10, True), (50, 50, False), (49, 49, True), (9000, 50, False)],
)
def test_row_cap(settings: Settings, max_rows: int, rows: int, capped: bool) -> None:
    capped_settings = dataclasses.replace(settings, sql_max_rows=max_rows)
    result = run_sandboxed(
        "select application_id from applications order by applied_at", settings=capped_settings
    )
    assert len(result.frame) == rows
    assert result.capped is capped
    assert result.frame["application_id"].tolist()[:3] == ["a0", "a1", "a2"]
    if capped:
        assert f"capped at {max_rows:,} rows" in (result.notice or "")


def test_cap_stops_a_huge_result_early(settings: Settings) -> None:
    """10^12 rows would never finish; the cap stops reading after the first batch."""
    result = run_sandboxed(
        "select a.range as a, b.range as b from range(1000000) a, range(1000000) b",
        settings=dataclasses.replace(settings, sql_max_rows=100),
    )
    assert len(result.frame) == 100 and result.capped


def test_missing_parameter_is_refused(settings: Settings) -> None:
    with pytest.raises(SandboxError, match=r"Missing parameter \$role") as caught:
        run_sandboxed("select * from applications where role = $role", settings=settings)
    assert caught.value.reason == "parameters"


def test_missing_warehouse(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "none.duckdb", pseudonym_key_file=tmp_path / "k")
    with pytest.raises(SandboxError, match="No warehouse at") as caught:
        run_sandboxed("select 1", settings=settings)
    assert caught.value.reason == "missing_warehouse"
    assert not (tmp_path / "none.duckdb").exists()


def test_parquet_keeps_types(settings: Settings, tmp_path: Path) -> None:
    result = run_sandboxed(
        "select cohort_id, starts_on, estimated_hours from cohorts", settings=settings
    )
    path = tmp_path / "out.parquet"
    path.write_bytes(result.to_parquet_bytes())
    table = pq.read_table(path)
    assert [str(t) for t in table.schema.types] == ["string", "date32[day]", "double"]
    assert table.to_pylist()[0]["cohort_id"] == "c1"


@pytest.mark.parametrize(
    "sql",
    [
        "select 1",
        "with x as (select 1 as a) select * from x",
        "from applications limit 1",
        "values (1), (2)",
        "describe applications",
        "show tables",
        "summarize cohorts",
        "select 1; ",
        "-- a comment\nselect 1 -- trailing",
    ],
)
def test_read_only_forms_are_allowed(sql: str) -> None:
    assert check_statement(sql).type == duckdb.StatementType.SELECT


def test_runs_beside_an_open_read_only_connection(settings: Settings) -> None:
    """The dashboard keeps a plain read-only connection open; DuckDB refuses to open the same file
    again with another configuration in one process, so the sandbox attaches it instead."""
    held = connect_readonly(settings.db_path)
    try:
        result = run_sandboxed("select count(*) as n from applications", settings=settings)
        assert result.frame["n"].tolist() == [50]
        assert held.execute("select count(*) from cohorts").fetchall() == [(1,)]
    finally:
        held.close()


@pytest.mark.parametrize(
    "sql",
    [
        "select * from demographics",
        "select count(*) from warehouse.main.demographic_attributes where value = 'nobody'",
        "with d as (select * from demographics) select count(*) from d",
        "select a.application_id from applications a join demographics d using (candidate_id)",
        "select * from query_table('demo' || 'graphics')",
        "select (select count(*) from demographic_attributes) as n",
    ],
)
def test_demographic_tables_are_refused_by_default(settings: Settings, sql: str) -> None:
    """Row-level self-ID would leave the system unsuppressed through ad-hoc SQL."""
    before = fingerprint(settings.db_path)
    with pytest.raises(SandboxError, match="self-identification") as caught:
        run_sandboxed(sql, settings=settings)
    assert caught.value.reason == "demographics"
    assert fingerprint(settings.db_path) == before


def test_demographic_tables_open_when_allowed(settings: Settings) -> None:
    allowed = dataclasses.replace(settings, sql_allow_demographics=True)
    result = run_sandboxed("select count(*) as n from demographics", settings=allowed)
    assert int(result.frame["n"].iloc[0]) == 0
    # Other tables are unaffected by the setting.
    plain = run_sandboxed("select count(*) as n from applications", settings=settings)
    assert int(plain.frame["n"].iloc[0]) == 50

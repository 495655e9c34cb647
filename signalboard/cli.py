"""The `signalboard` command line.

Each subcommand parses its options here and calls one function elsewhere; heavy modules are
imported inside the handlers so `signalboard --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from signalboard.settings import Settings, SettingsError, get_settings


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _settings(args: argparse.Namespace) -> Settings:
    return get_settings().with_db(getattr(args, "db", None))


def cmd_generate(args: argparse.Namespace) -> int:
    from etl.generate import GeneratorConfig, generate

    config = GeneratorConfig(
        n_applications=args.applications,
        seed=args.seed,
        plant_effects=not args.no_effects,
        cohort_shape=args.cohort_shape,
    )
    disabled = set(args.disable or [])
    if disabled:
        try:
            config = config.without(disabled)
        except ValueError as error:
            raise CliError(str(error)) from None
    summary = generate(Path(args.out), config=config)
    for name, rows in summary.items():
        print(f"{name}: {rows} rows")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from etl.load import FileResult, LoadError, load_paths
    from signalboard.load_output import file_line, print_result

    settings = _settings(args)

    def on_file(result: FileResult) -> None:
        print(file_line(result), flush=True)

    try:
        result = load_paths(
            [Path(p) for p in args.paths],
            settings=settings,
            as_of=args.as_of,
            mapping=Path(args.mapping) if args.mapping else None,
            strict=args.strict,
            # The bar only on a terminal: in a pipe or a log it is noise between the lines.
            progress=not args.quiet and sys.stderr.isatty(),
            check=args.check,
            on_file=on_file if args.json else None,
            demographic_attributes=settings.demographic_attributes,
            memory_limit=settings.load_memory_limit,
        )
    except LoadError as error:
        raise CliError(str(error)) from None
    print_result(result, as_json=args.json, out=sys.stdout)
    return 1 if result.problems else 0


def cmd_key(args: argparse.Namespace) -> int:
    from etl.load import LoadError
    from etl.pseudonym import PseudonymKeyError, read_key
    from etl.rotate import rotate_key
    from etl.warehouse_key import recorded_fingerprint

    settings = _settings(args)
    key_file = Path(args.key_file) if args.key_file else settings.pseudonym_key_file
    if args.key_command == "rotate":
        try:
            rotation = rotate_key(db_path=settings.db_path, key_file=key_file)
        except LoadError as error:
            raise CliError(str(error)) from None
        print(
            f"re-keyed {rotation.values} pseudonyms in {rotation.db_path}; key {key_file} now has "
            f"fingerprint {rotation.new_fingerprint} (was {rotation.old_fingerprint}): back it up "
            "again, the old backup no longer matches the warehouse"
        )
        return 0
    try:
        fingerprint = read_key(key_file).fingerprint
    except PseudonymKeyError as error:
        raise CliError(str(error)) from None
    print(f"key {key_file}: fingerprint {fingerprint}")
    if settings.db_path.exists():
        import duckdb

        con = duckdb.connect(str(settings.db_path), read_only=True)
        try:
            recorded = recorded_fingerprint(con)
        finally:
            con.close()
        verdict = (
            "no fingerprint recorded yet (the next load records this key's)"
            if recorded is None
            else ("matches" if recorded == fingerprint else "does NOT match this key")
        )
        print(f"warehouse {settings.db_path}: fingerprint {recorded or '-'}, {verdict}")
        if recorded is not None and recorded != fingerprint:
            return 1
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from signalboard.db import WarehouseMissingError
    from signalboard.memory import keep_freed_memory
    from signalboard.report import ReportError, write_report

    settings = _settings(args)
    keep_freed_memory()  # the sections' large temporaries reuse pages instead of faulting anew
    try:
        written = write_report(settings=settings, out_dir=Path(args.out), pdf=args.pdf)
    except (WarehouseMissingError, ReportError) as error:
        raise CliError(str(error)) from None
    for path in written:
        print(path)
    return 0


def app_script() -> Path:
    """The Streamlit entry script, wherever the dashboard package is installed.

    Found by its module spec rather than imported: the library never imports the dashboard
    (the layers import downward only), it only names the file Streamlit runs.
    """
    spec = importlib.util.find_spec("dashboard.app")
    if spec is None or spec.origin is None:
        raise CliError("the dashboard package is not installed (reinstall signalboard)")
    return Path(spec.origin)


def _streamlit_command(
    settings: Settings, port: int | None, *, address: str, secrets_file: Path | None
) -> list[str]:
    # Streamlit's CLI through dashboard.server, which imports what the pages use first (named,
    # not imported: the library never imports the dashboard).
    command = [
        sys.executable,
        "-m",
        "dashboard.server",
        "run",
        str(app_script()),
        "--server.port",
        str(port or settings.port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # Viewers get no Deploy button and no developer menu.
        "--client.toolbarMode",
        "viewer",
        "--server.enableXsrfProtection",
        "true",
    ]
    if secrets_file is not None:
        # Streamlit's st.login reads [auth] from its secrets; the config file is laid out the
        # way it expects, so it is handed over as is, and the secrets exist in one file only.
        command += ["--secrets.files", str(secrets_file)]
    return command


def cmd_serve(args: argparse.Namespace) -> int:
    from signalboard.access import ConfigError, is_loopback, load_config

    settings = _settings(args)
    config_path = getattr(args, "config", None) or settings.config_path
    try:
        config = load_config(config_path)
    except ConfigError as error:
        raise CliError(str(error)) from None
    address = getattr(args, "address", None) or "127.0.0.1"
    if config.local and not is_loopback(address):
        raise CliError(
            f"--address {address} without sign-in would show everyone who reaches it the data; "
            "add an [auth] section to the config (docs/deploying.md) or serve on 127.0.0.1"
        )
    env = dict(os.environ, SIGNALBOARD_DB=str(settings.db_path))
    env.pop("SIGNALBOARD_CONFIG", None)
    if config.path is not None:
        env["SIGNALBOARD_CONFIG"] = str(config.path)
    port = args.port or settings.port
    mode = "local single-user mode" if config.local else f"sign-in through {config.path}"
    print(f"signalboard: serving {settings.db_path} on http://{address}:{port} ({mode})")
    sys.stdout.flush()
    command = _streamlit_command(
        settings, args.port, address=address, secrets_file=None if config.local else config.path
    )
    # Become the server instead of running it as a child: every signal sent to `serve`
    # (SIGTERM from a process manager, SIGINT, SIGHUP) then reaches Streamlit itself, and no
    # server can outlive the process that was asked to stop.
    os.execve(sys.executable, command, env)
    return 0  # not reached: execve replaces this process


def cmd_demo(args: argparse.Namespace) -> int:
    from etl.load import load_paths

    settings = _settings(args)
    if not settings.db_path.exists():
        print(
            f"signalboard: building the sample warehouse {settings.db_path} from {settings.sample_dir}"
        )
        result = load_paths(
            [settings.sample_dir],
            settings=settings,
            progress=True,
            demographic_attributes=settings.demographic_attributes,
            memory_limit=settings.load_memory_limit,
        )
        print(result.summary_text())
    args.port = getattr(args, "port", None)
    return cmd_serve(args)


def cmd_query(args: argparse.Namespace) -> int:
    from signalboard.query_cli import run_query_command

    return run_query_command(args, settings=_settings(args))


def _benchmarks() -> Any:
    # The benchmarks drive the app, AppTest and Chromium; they sit outside the library and are
    # found at run time so the library's import graph stays free of them.
    return importlib.import_module("signalboard_benchmarks.run")


def cmd_benchmark(args: argparse.Namespace) -> int:
    return _benchmarks().run_benchmark_command(args, settings=_settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signalboard",
        description="Analytics and fairness reporting for hiring through paid micro-internships.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write synthetic exports in the data contract")
    gen.add_argument("--out", required=True, help="folder to write the CSV exports to")
    gen.add_argument("--applications", type=int, default=3000, help="number of applications")
    gen.add_argument("--seed", type=int, default=7, help="random seed (same seed, same files)")
    gen.add_argument(
        "--cohort-shape",
        choices=("few", "realistic"),
        default="few",
        help="few: 24 cohorts of similar size (the sample's shape); realistic: one cohort per 150 "
        "applications with skewed sizes, as real programmes run (docs/generator.md)",
    )
    gen.add_argument(
        "--no-effects",
        action="store_true",
        help="plant no effects (a null dataset for calibration)",
    )
    gen.add_argument(
        "--disable",
        action="append",
        metavar="EFFECT",
        help="switch one planted effect off (repeatable): harsh_grader, grader_group_bias, "
        "submission_leak, stipend_gap, llm_triage_bias (docs/generator.md)",
    )
    gen.set_defaults(handler=cmd_generate)

    load = sub.add_parser("load", help="validate, pseudonymize and load exports into the warehouse")
    load.add_argument("paths", nargs="+", help="folders or files (CSV, CSV.gz, Parquet)")
    load.add_argument(
        "--db", help="warehouse file (default SIGNALBOARD_DB or the per-user data folder)"
    )
    load.add_argument(
        "--as-of", help="timestamp the exports were taken (default: latest in the data)"
    )
    load.add_argument("--mapping", help="TOML file renaming a vendor's columns and stages")
    load.add_argument(
        "--strict", action="store_true", help="refuse the whole load on any rejected row"
    )
    load.add_argument(
        "--check",
        action="store_true",
        help="dry run: per file the table, column map, date formats, unmapped values and rows "
        "that would be rejected; writes nothing (not even a new key)",
    )
    load.add_argument(
        "--json", action="store_true", help="JSON lines: one per file, then one for the load"
    )
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    load.set_defaults(handler=cmd_load)

    key = sub.add_parser("key", help="the pseudonym key: fingerprint, rotation")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    for name, text in (
        ("fingerprint", "print the key's fingerprint and whether the warehouse was built with it"),
        ("rotate", "re-key every pseudonym in the warehouse with a new secret, atomically"),
    ):
        command = key_sub.add_parser(name, help=text)
        command.add_argument("--db", help="warehouse file")
        command.add_argument(
            "--key-file",
            help="key file (default data/pseudonym.key or SIGNALBOARD_PSEUDONYM_KEY_FILE)",
        )
        command.set_defaults(handler=cmd_key)

    rep = sub.add_parser("report", help="write every analysis table as CSV plus report.html")
    rep.add_argument("--db", help="warehouse file")
    rep.add_argument("--out", required=True, help="folder for the CSV files and report.html")
    rep.add_argument(
        "--pdf", action="store_true", help="also write report.pdf of the same document"
    )
    rep.set_defaults(handler=cmd_report)

    serve = sub.add_parser("serve", help="start the dashboard")
    serve.add_argument("--db", help="warehouse file")
    serve.add_argument("--port", type=int, help="port (default 8501 or SIGNALBOARD_PORT)")
    serve.add_argument(
        "--config",
        help="TOML with [auth] (OpenID Connect sign-in) and [roles] (default SIGNALBOARD_CONFIG; "
        "none: local single-user mode on 127.0.0.1)",
    )
    serve.add_argument(
        "--address",
        help="address to listen on (default 127.0.0.1; another one needs [auth] in the config)",
    )
    serve.set_defaults(handler=cmd_serve)

    demo = sub.add_parser("demo", help="build the sample warehouse if missing and serve it")
    demo.add_argument("--db", help="warehouse file")
    demo.add_argument("--port", type=int, help="port (default 8501 or SIGNALBOARD_PORT)")
    demo.set_defaults(handler=cmd_demo)

    from signalboard.query_cli import add_query_arguments

    query = sub.add_parser("query", help="run a query from the SQL library or a .sql file")
    add_query_arguments(query)
    query.set_defaults(handler=cmd_query)

    bench = sub.add_parser("benchmark", help="measure load, report and pages at scale")
    _benchmarks().add_benchmark_arguments(bench)
    bench.set_defaults(handler=cmd_benchmark)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (CliError, SettingsError) as error:
        print(f"signalboard: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

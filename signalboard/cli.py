"""The `signalboard` command line.

Each subcommand parses its options here and calls one function elsewhere; heavy modules are
imported inside the handlers so `signalboard --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from signalboard.settings import Settings, get_settings


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
    from etl.load import LoadError, load_paths

    settings = _settings(args)
    try:
        result = load_paths(
            [Path(p) for p in args.paths],
            settings=settings,
            as_of=args.as_of,
            mapping=Path(args.mapping) if args.mapping else None,
            strict=args.strict,
            progress=not args.quiet,
        )
    except LoadError as error:
        raise CliError(str(error)) from None
    print(result.summary_text())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from signalboard.db import WarehouseMissingError
    from signalboard.report import ReportError, write_report

    settings = _settings(args)
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
    (the layers import downward only), it only names the file `streamlit run` executes.
    """
    spec = importlib.util.find_spec("dashboard.app")
    if spec is None or spec.origin is None:
        raise CliError("the dashboard package is not installed (reinstall signalboard)")
    return Path(spec.origin)


def _streamlit_command(settings: Settings, port: int | None) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_script()),
        "--server.port",
        str(port or settings.port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    env = dict(os.environ, SIGNALBOARD_DB=str(settings.db_path))
    print(
        f"signalboard: serving {settings.db_path} on http://localhost:{args.port or settings.port}"
    )
    return subprocess.call(_streamlit_command(settings, args.port), env=env)


def cmd_demo(args: argparse.Namespace) -> int:
    from etl.load import load_paths

    settings = _settings(args)
    if not settings.db_path.exists():
        print(
            f"signalboard: building the sample warehouse {settings.db_path} from {settings.sample_dir}"
        )
        result = load_paths([settings.sample_dir], settings=settings, progress=True)
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
        "--db", help="warehouse file (default data/warehouse.duckdb or SIGNALBOARD_DB)"
    )
    load.add_argument(
        "--as-of", help="timestamp the exports were taken (default: latest in the data)"
    )
    load.add_argument("--mapping", help="TOML file renaming a vendor's columns and stages")
    load.add_argument(
        "--strict", action="store_true", help="refuse the whole load on any rejected row"
    )
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    load.set_defaults(handler=cmd_load)

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
    except CliError as error:
        print(f"signalboard: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

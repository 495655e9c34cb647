"""`signalboard report`: every analysis table as CSV plus one self-contained report.html.

Each analysis area is a section module in `SECTIONS` exposing

    def report_tables(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> list[ReportTable]

and optionally `report_files(con, *, settings) -> dict[str, str]` (extra files, such as
ll144_summary.html). A section that computes once for both exposes
`report(con, *, settings) -> SectionReport` instead, and the report calls only that.

The report reads through one read-only connection, so it can run while the dashboard serves.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from types import ModuleType

import pandas as pd

from signalboard.analysis import assessors, data_health, fairness, funnel, stipends, time_to_hire
from signalboard.analysis.tables import ReportTable, SectionReport
from signalboard.csv_safety import to_csv_bytes
from signalboard.db import readonly
from signalboard.settings import Settings

# The sections of report.html, in order. Every one must run: a section that fails stops the
# report rather than leaving an audit document silently short.
SECTIONS: tuple[tuple[str, ModuleType], ...] = (
    ("Data health", data_health),
    ("Funnel", funnel),
    ("Time to hire", time_to_hire),
    ("Assessors", assessors),
    ("Fairness", fairness),
    ("Stipends", stipends),
)


def collect_tables(con, *, settings: Settings) -> list[tuple[str, list[ReportTable]]]:
    """Run every section against an open connection."""
    return [
        (title, list(module.report_tables(con, settings=settings))) for title, module in SECTIONS
    ]


def collect_files(con, *, settings: Settings) -> dict[str, str]:
    """Extra files sections write beside the CSVs (file name -> text), e.g. ll144_summary.html."""
    files: dict[str, str] = {}
    for _, module in SECTIONS:
        if hasattr(module, "report_files"):
            files.update(module.report_files(con, settings=settings))
    return files


def _table_html(frame: pd.DataFrame, *, max_rows: int = 200) -> str:
    shown = frame.head(max_rows)
    body = shown.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
    more = (
        f"<p class='more'>{len(frame) - max_rows} more rows in the CSV.</p>"
        if len(frame) > max_rows
        else ""
    )
    return body + more


def render_html(sections: list[tuple[str, list[ReportTable]]], *, generated_at: dt.datetime) -> str:
    """A self-contained HTML audit report (no external scripts, styles or fonts)."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>signalboard audit report</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}"
        "table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1.5rem}"
        "th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right}"
        "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        "h2{border-bottom:2px solid #444;padding-bottom:.2rem;margin-top:2.5rem}"
        ".more,.desc{color:#555}nav a{margin-right:1rem}</style></head><body>",
        "<h1>signalboard audit report</h1>",
        f"<p>Generated {html.escape(generated_at.isoformat(timespec='seconds'))}. Every table below "
        "is also written as a CSV file beside this report. Demographic counts under the "
        "suppression size are shown as &lt;k.</p><nav>",
    ]
    for title, _ in sections:
        parts.append(
            f"<a href='#{html.escape(title.lower().replace(' ', '-'))}'>{html.escape(title)}</a>"
        )
    parts.append("</nav>")
    for title, tables in sections:
        parts.append(
            f"<h2 id='{html.escape(title.lower().replace(' ', '-'))}'>{html.escape(title)}</h2>"
        )
        for table in tables:
            parts.append(
                f"<h3>{html.escape(table.title)} <small>({html.escape(table.name)}.csv)</small></h3>"
            )
            if table.description:
                parts.append(f"<p class='desc'>{html.escape(table.description)}</p>")
            for note in table.notes:
                parts.append(f"<p class='desc'>{html.escape(note)}</p>")
            parts.append(_table_html(table.frame) if len(table.frame) else "<p>No rows.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def section_report(module: ModuleType, con, *, settings: Settings) -> SectionReport:
    """One section's tables and files: its `report` hook, else `report_tables`/`report_files`."""
    if hasattr(module, "report"):
        return module.report(con, settings=settings)
    files = module.report_files(con, settings=settings) if hasattr(module, "report_files") else {}
    return SectionReport(tables=list(module.report_tables(con, settings=settings)), files=files)


def write_report(*, settings: Settings, out_dir: Path) -> list[Path]:
    """Write `<table>.csv` for every analysis table and `report.html`; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with readonly(settings.db_path) as con:
        reports = [
            (title, section_report(module, con, settings=settings)) for title, module in SECTIONS
        ]
    sections = [(title, list(r.tables)) for title, r in reports]
    files = {name: text for _, r in reports for name, text in r.files.items()}
    written: list[Path] = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for _, tables in sections:
        for table in tables:
            path = out_dir / f"{table.name}.csv"
            # Formula-like text is prefixed with ' (OWASP CSV injection rule); numbers stay exact.
            path.write_bytes(to_csv_bytes(table.frame))
            written.append(path)
    report = out_dir / "report.html"
    report.write_text(render_html(sections, generated_at=dt.datetime.now(dt.UTC)), encoding="utf-8")
    written.append(report)
    return written

"""`signalboard report`: every analysis table as CSV plus one self-contained report.html (and
report.pdf of the same document with `--pdf`).

report.html opens with an executive summary and the findings (signalboard.analysis.findings),
then key charts drawn as inline SVG, methods in plain words and the tables as an appendix, with
human labels and formats (signalboard.present). The CSVs keep machine column names and full
precision.

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pandas as pd

from signalboard import svgcharts as svg
from signalboard.analysis import assessors, data_health, fairness, funnel, stipends, time_to_hire
from signalboard.analysis.findings import (
    DEFAULT_CLAIMED_REDUCTION,
    Finding,
    findings_from_tables,
)
from signalboard.analysis.tables import ReportTable, SectionReport
from signalboard.csv_safety import to_csv_bytes
from signalboard.db import readonly
from signalboard.present import html_table
from signalboard.settings import Settings
from signalboard.stats.adverse_impact import FOUR_FIFTHS

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
    # People read labels and formatted values; the CSV beside the report keeps machine names and
    # full precision. Impact ratios under four-fifths are marked as on the pages.
    body = html_table(frame, max_rows=max_rows, below={"impact_ratio": FOUR_FIFTHS})
    more = (
        f"<p class='more'>{len(frame) - max_rows:,} more rows in the CSV.</p>"
        if len(frame) > max_rows
        else ""
    )
    return body + more


_SEVERITY_TEXT = {"flag": "Flag", "too_few": "Too few to tell", "ok": "OK"}


def _anchor(text: str) -> str:
    return html.escape(text.lower().replace(" ", "-"))


def tables_by_name(sections: list[tuple[str, list[ReportTable]]]) -> dict[str, pd.DataFrame]:
    """Every published table keyed by its CSV name."""
    return {table.name: table.frame for _, tables in sections for table in tables}


def key_charts(tables: dict[str, pd.DataFrame], *, claimed_reduction: float) -> list[str]:
    """The report's charts as inline SVG, each drawn from a published table."""
    charts: list[str] = []
    funnel_frame = tables.get("funnel")
    if funnel_frame is not None and len(funnel_frame):
        overall = funnel_frame[funnel_frame["segment_type"] == "all"]
        rows = [
            svg.Row(str(r.stage), float(r.overall_conversion))
            for r in overall.itertuples(index=False)
            if pd.notna(r.overall_conversion)
        ]
        charts.append(
            svg.hbar_chart(rows, title="Share of applications reaching each stage", fmt=_pct)
        )
    charts += trend_charts(tables)
    tth_frame = tables.get("time_to_hire")
    if tth_frame is not None and len(tth_frame):
        pick = tth_frame[
            (tth_frame["clock"] == "applied_to_hired")
            & (tth_frame["segment"] == "all")
            & (tth_frame["track"] != "all")
        ]
        medians = {r.track: float(r.median_days_among_hired) for r in pick.itertuples(index=False)}
        rows = [svg.Row(str(t).replace("_", "-"), v) for t, v in medians.items() if pd.notna(v)]
        refs = []
        if medians.get("traditional"):
            refs.append(
                (
                    medians["traditional"] * (1 - claimed_reduction),
                    f"claimed {claimed_reduction:.0%} shorter",
                )
            )
        charts.append(
            svg.hbar_chart(
                rows,
                title="Median days from application to hire, among hires",
                ref_lines=refs,
                fmt=lambda v: f"{v:.0f} days",
            )
        )
    graders_frame = tables.get("graders")
    if graders_frame is not None and len(graders_frame):
        total = graders_frame[graders_frame["axis"] == "total"].sort_values("severity")
        rows = [
            svg.Row(
                str(r.grader_id),
                float(r.severity),
                float(r.severity_ci_low),
                float(r.severity_ci_high),
                bool(r.flagged),
            )
            for r in total.itertuples(index=False)
        ]
        charts.append(
            svg.hbar_chart(
                rows,
                title="Grader severity, points harsher than co-graders (95% CI; red = flagged)",
                ref_lines=[(0.0, "0")],
                bars=False,
                fmt=lambda v: f"{v:+.2f}",
            )
        )
    impact = tables.get("adverse_impact")
    if impact is not None and len(impact):
        flagged = impact[impact["status"] == "below_four_fifths_significant"]
        for (step, track, attribute), _ in list(
            flagged.groupby(["step", "track", "attribute"], sort=False)
        )[:2]:
            part = impact[
                (impact["step"] == step)
                & (impact["track"] == track)
                & (impact["attribute"] == attribute)
            ]
            ratio = pd.to_numeric(part["impact_ratio"], errors="coerce")
            rows = [
                svg.Row(
                    str(r.group),
                    float(v),
                    _num(r.ir_ci_low),
                    _num(r.ir_ci_high),
                    r.status == "below_four_fifths_significant",
                )
                for r, v in zip(part.itertuples(index=False), ratio, strict=True)
                if pd.notna(v)
            ]
            charts.append(
                svg.hbar_chart(
                    rows,
                    title=f"Impact ratio at {step} ({track}), by {attribute} (red = below "
                    "four-fifths and significant)",
                    ref_lines=[(FOUR_FIFTHS, "four-fifths (0.80)")],
                )
            )
    gaps = tables.get("stipends")
    if gaps is not None and len(gaps) and "adjusted_gap_pct_with_location" in gaps:
        part = gaps[(gaps["attribute"] == "sex") & (gaps["method"] == "ols_hc3")]
        rows = [
            svg.Row(
                f"{r.group} vs {r.reference_group}",
                float(r.adjusted_gap_pct_with_location),
                _num(r.adjusted_ci_low_with_location),
                _num(r.adjusted_ci_high_with_location),
                bool(_num(r.adjusted_p_value_with_location) is not None)
                and (_num(r.adjusted_p_value_with_location) or 1) < 0.05,
            )
            for r in part.itertuples(index=False)
            if pd.notna(r.adjusted_gap_pct_with_location)
        ]
        if rows:
            charts.append(
                svg.hbar_chart(
                    rows,
                    title="Stipend gap by sex, same role, hours and location (95% CI)",
                    ref_lines=[(0.0, "no gap")],
                    bars=False,
                    fmt=lambda v: f"{v:+.1f}%",
                )
            )
    return charts


MAX_TREND_STEPS = 3


def trend_charts(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Step conversion by entry month per track, with the flagged cohorts as red crosses: the
    steps that have a flagged cohort (at most MAX_TREND_STEPS), else the first step. Drawn from
    funnel_trend_by_month and funnel_alerts, so a point per month, never per cohort."""
    monthly = tables.get("funnel_trend_by_month")
    alerts = tables.get("funnel_alerts")
    if monthly is None or monthly.empty:
        return []
    flagged = (
        alerts.loc[alerts["flagged"].astype(bool)]
        if alerts is not None and len(alerts)
        else pd.DataFrame(columns=["track", "stage", "cohort_id", "cohort_start", "rate"])
    )
    charts = []
    for track, rows in monthly.groupby("track", sort=True):
        marked = flagged.loc[flagged["track"] == track]
        steps = list(dict.fromkeys(marked["stage"]))[:MAX_TREND_STEPS]
        steps = steps or [str(rows.sort_values("stage_index")["stage"].iloc[0])]
        series = [
            svg.Series(
                label=str(step),
                dates=[pd.Timestamp(m).date() for m in part["month"]],
                values=part["rate"].astype(float).tolist(),
                low=part["ci_low"].astype(float).tolist(),
                high=part["ci_high"].astype(float).tolist(),
            )
            for step in steps
            for part in [rows.loc[rows["stage"] == step]]
        ]
        points = [
            svg.Point(
                f"{r.cohort_id} {r.stage} {float(r.rate):.1%}",
                pd.Timestamp(r.cohort_start).date(),
                float(r.rate),
            )
            for r in marked.loc[marked["stage"].isin(steps)].itertuples(index=False)
        ]
        cohorts = int(rows.groupby("month")["cohorts"].max().sum())
        label = str(track).replace("_", "-")
        charts.append(
            svg.time_chart(
                series,
                points=points,
                title=f"{label}: step conversion by entry month ({cohorts:,} cohorts, 95% band)",
            )
        )
    return charts


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _num(value: object) -> float | None:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return None if pd.isna(number) else float(number)


METHODS = (
    (
        "Funnel",
        "Each step's conversion counts only applications that have had time to decide: those "
        "still in progress inside the step's window are shown apart as pending. A cohort is "
        "flagged when its conversion is below the earlier cohorts of its track by a one-sided "
        "exact test, Holm-adjusted over every cohort and step, so about one false alarm in "
        "twenty reports at most.",
    ),
    (
        "Time to hire",
        "Calendar days between two dates. Beside the median among hires (what applicant tracking "
        "systems report) the report estimates the chance of being hired by day t while counting "
        "applications still open. The micro-internship against traditional comparison is the "
        "ratio of median days to hire, with a bootstrap interval, set against the claimed "
        "reduction.",
    ),
    (
        "Assessors",
        "A grader's severity is how many points lower they score than co-graders on the same "
        "deliverables, shrunk towards zero for graders with few ratings; flagged when the whole "
        "95% interval is beyond the threshold. Grader x group bias compares a grader's scores "
        "of one group with co-graders on the same work, flagged when a Benjamini-Hochberg "
        "adjusted test is significant and the gap is large. The LLM scorer is checked against "
        "the Williamson, Xi & Breyer (2012) agreement gates.",
    ),
    (
        "Fairness",
        "Adverse impact: a group's selection rate divided by the highest group's rate at each "
        "step. Below 0.80 (the four-fifths rule) is reported as a finding only when a "
        "significance test, adjusted for the number of tests, agrees; smaller groups below 0.80 "
        "are counted as too few to tell. The NYC Local Law 144 tables of the LLM triage follow "
        "the rule's definitions and have no significance test.",
    ),
    (
        "Stipends",
        "Stipends are compared in real terms (adjusted for the cost of living). The gap for a "
        "group is estimated by a regression on role, cohort length, hours and location, so it "
        "compares people doing comparable work in comparable places, with a Benjamini-Hochberg "
        "correction across groups.",
    ),
    (
        "Privacy",
        "Demographic counts below the minimum cell size are shown as <k and counts that would "
        "reveal them by subtraction as *; their rates are hidden.",
    ),
)


def render_html(
    sections: list[tuple[str, list[ReportTable]]],
    *,
    generated_at: dt.datetime,
    findings: list[Finding] | None = None,
    claimed_reduction: float = DEFAULT_CLAIMED_REDUCTION,
) -> str:
    """A self-contained HTML audit report (no external scripts, styles, fonts or images):
    executive summary and findings first, then key charts, methods, and the tables as an
    appendix."""
    tables = tables_by_name(sections)
    if findings is None:
        findings = findings_from_tables(tables, claimed_reduction=claimed_reduction)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>signalboard audit report</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}"
        "table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0 1.5rem}"
        "th,td{padding:.2rem .5rem;border-bottom:1px solid #ddd;text-align:right}"
        "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        "td.below{color:#b00020;font-weight:bold}"
        "h2{border-bottom:2px solid #444;padding-bottom:.2rem;margin-top:2.5rem}"
        ".more,.desc{color:#555}nav a{margin-right:1rem}"
        "li.flag{color:#8e1c12}li.too_few{color:#555}li{margin:.3rem 0}"
        ".sev{font-weight:bold}figure{margin:1rem 0}"
        "@media print{h2{break-before:page}table{font-size:7pt}}</style></head><body>",
        "<h1>signalboard audit report</h1>",
        f"<p>Generated {html.escape(generated_at.isoformat(timespec='seconds'))}. Every table in "
        "the appendix is also written as a CSV file beside this report, with machine column "
        "names and full precision.</p>",
        "<h2 id='executive-summary'>Executive summary</h2>",
    ]
    parts.append(_summary_html(tables, findings))
    parts.append("<h2 id='findings'>Findings</h2>")
    for section in dict.fromkeys(f.section for f in findings):
        parts.append(f"<h3>{html.escape(section)}</h3><ul>")
        for finding in (f for f in findings if f.section == section):
            link = f" <a href='#table-{_anchor(finding.table)}'>detail</a>" if finding.table else ""
            parts.append(
                f"<li class='{finding.severity}'><span class='sev'>"
                f"{_SEVERITY_TEXT[finding.severity]}:</span> {html.escape(finding.text)}{link}</li>"
            )
        parts.append("</ul>")
    parts.append("<h2 id='charts'>Key charts</h2>")
    for chart in key_charts(tables, claimed_reduction=claimed_reduction):
        parts.append(f"<figure>{chart}</figure>")
    parts.append("<h2 id='methods'>Methods in plain words</h2>")
    for title, text in METHODS:
        parts.append(f"<p><b>{html.escape(title)}.</b> {html.escape(text)}</p>")
    parts.append("<h2 id='appendix'>Appendix: the tables</h2><nav>")
    for title, _ in sections:
        parts.append(f"<a href='#{_anchor(title)}'>{html.escape(title)}</a>")
    parts.append("</nav>")
    for title, section_tables in sections:
        parts.append(f"<h2 id='{_anchor(title)}'>{html.escape(title)}</h2>")
        for table in section_tables:
            parts.append(
                f"<h3 id='table-{_anchor(table.name)}'>{html.escape(table.title)} "
                f"<small>({html.escape(table.name)}.csv)</small></h3>"
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


def _summary_html(tables: dict[str, pd.DataFrame], findings: list[Finding]) -> str:
    facts = []
    funnel_frame = tables.get("funnel")
    if funnel_frame is not None and len(funnel_frame):
        overall = funnel_frame[funnel_frame["segment_type"] == "all"].set_index("stage")
        if "applied" in overall.index and "hired" in overall.index:
            applied = int(overall.loc["applied", "reached"])
            hired = int(overall.loc["hired", "reached"])
            facts.append(
                f"{applied:,} applications, {hired:,} hired "
                f"({hired / applied:.1%} overall conversion)."
                if applied
                else "No applications."
            )
    flags = [f for f in findings if f.severity == "flag"]
    few = [f for f in findings if f.severity == "too_few"]
    by_section = {
        s: sum(f.section == s for f in flags) for s in dict.fromkeys(f.section for f in findings)
    }
    facts.append(
        f"{len(flags)} finding(s) to act on ("
        + ", ".join(f"{s}: {n}" for s, n in by_section.items())
        + f"); {len(few)} result(s) too few to tell."
    )
    items = "".join(f"<li>{html.escape(text)}</li>" for text in facts)
    # Round-robin over sections so every section's first flag is in the summary.
    queues = [[f for f in flags if f.section == s] for s in dict.fromkeys(f.section for f in flags)]
    ranked = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
    top = "".join(f"<li>{html.escape(f.text)}</li>" for f in ranked[:8])
    more = f"<p>The findings below list all {len(flags)}.</p>" if len(flags) > 8 else ""
    return (
        f"<ul>{items}</ul><p>The most important:</p><ol>{top}</ol>{more}"
        if flags
        else (f"<ul>{items}</ul><p>Nothing to act on in this data.</p>")
    )


def write_pdf(html_text: str, path: Path) -> None:
    """Print the report HTML to a PDF with WeasyPrint (pure Python over the system's Pango)."""
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: Pango's shared libraries are missing
        raise ReportError(
            "report --pdf needs WeasyPrint and the Pango library "
            f"(pip install weasyprint; Debian: apt install libpango-1.0-0): {error}"
        ) from error
    weasyprint.HTML(string=html_text).write_pdf(str(path))


class ReportError(RuntimeError):
    """A report that cannot be written as asked (one line, for the CLI)."""


def write_report(*, settings: Settings, out_dir: Path, pdf: bool = False) -> list[Path]:
    """Write `<table>.csv` for every analysis table and `report.html` (and `report.pdf` of the
    same document with `pdf=True`); return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    # A section's CSVs are written on a second thread while the next section computes: DuckDB's
    # CSV writer (csv_safety) runs without the GIL, so the writing overlaps the sections' own
    # work instead of following it.
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = []
        reports = []
        with readonly(settings.db_path) as con:
            for title, module in SECTIONS:
                report = section_report(module, con, settings=settings)
                reports.append((title, report))
                pending.append(writer.submit(_write_files, report, out_dir))
        for job in pending:
            written.extend(job.result())
    # The time-to-hire section hands over the interval it computed for its own note.
    ci = next((r.time_ratio_ci for _, r in reports if r.time_ratio_ci is not None), None)
    sections = [(title, list(r.tables)) for title, r in reports]
    claimed = settings.claimed_time_reduction
    findings = findings_from_tables(
        tables_by_name(sections), claimed_reduction=claimed, time_ratio_ci=ci
    )
    report = out_dir / "report.html"
    text = render_html(
        sections,
        generated_at=dt.datetime.now(dt.UTC),
        findings=findings,
        claimed_reduction=claimed,
    )
    report.write_text(text, encoding="utf-8")
    written.append(report)
    if pdf:
        write_pdf(text, out_dir / "report.pdf")
        written.append(out_dir / "report.pdf")
    return written


def _write_files(report: SectionReport, out_dir: Path) -> list[Path]:
    """A section's extra files and one CSV per table in `out_dir`; the paths written."""
    written: list[Path] = []
    for name, text in report.files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for table in report.tables:
        path = out_dir / f"{table.name}.csv"
        # Formula-like text is prefixed with ' (OWASP CSV injection rule); numbers stay exact.
        path.write_bytes(to_csv_bytes(table.frame))
        written.append(path)
    return written

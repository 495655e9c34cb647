"""What `signalboard load` prints: a summary table, JSON lines (`--json`), or a dry run's report
(`--check`). The load itself (etl/load.py) prints nothing."""

from __future__ import annotations

import json
from typing import Any, TextIO

from etl.load import FileResult, LoadResult


def file_line(result: FileResult) -> str:
    """One JSON line for a finished file (`"event": "load_file"`)."""
    return json.dumps(result.log_record())


def result_record(result: LoadResult) -> dict[str, Any]:
    """The load's (or the check's) outcome as one JSON object."""
    record: dict[str, Any] = {
        "event": "load_check" if result.checked else "load",
        "db": str(result.db_path),
        "load_id": result.load_id if not result.checked else None,
        "changed": result.changed,
        "as_of": result.as_of.isoformat() if result.as_of else None,
        "files": len(result.files),
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_rejected": result.rows_rejected,
        "skipped": [{"file": str(p), "reason": r} for p, r in result.skipped],
        "key_created": str(result.key_created) if result.key_created else None,
    }
    if result.checked:
        record["problems"] = result.problems
        record["would_reject"] = {
            file_name: [
                {"column": c, "reason": why, "rows": n, "first_line": line}
                for c, why, n, line in reasons
            ]
            for file_name, reasons in result.rejected_reasons.items()
        }
    return record


def check_text(result: LoadResult) -> str:
    """The dry run's report: per file the table it feeds, its column map, date formats, values
    no rule maps and the rows that would be rejected, then why the load would be refused."""
    lines = [f"check: nothing was written to {result.db_path} or the key file"]
    for f in result.files:
        if f.status == "unchanged":
            lines.append(
                f"{f.file_name} -> {f.table}: unchanged since load {f.previous_load_id}, skipped"
            )
            continue
        lines.append(
            f"{f.file_name} -> {f.table}: {f.rows_read} rows, {f.rows_loaded} would load, "
            f"{f.rows_rejected} rejected"
            + (f", {f.rows_merged} merged into earlier events" if f.rows_merged else "")
        )
        inspection = f.inspection
        if inspection is None:
            continue
        lines.append(
            "  columns: "
            + ", ".join(f"{source} -> {target}" for target, source in inspection.columns.items())
        )
        if inspection.stage_columns:
            lines.append(
                "  stage columns (one event per filled cell): "
                + ", ".join(inspection.stage_columns)
            )
        if inspection.extra_columns:
            lines.append(
                "  extra attributes: "
                + ", ".join(f"{s} -> {a}" for a, s in inspection.extra_columns.items())
            )
        if inspection.ignored:
            lines.append("  ignored: " + ", ".join(inspection.ignored))
        if inspection.unused:
            lines.append("  not used: " + ", ".join(inspection.unused))
        for column, fmt in inspection.date_formats.items():
            lines.append(f"  dates: {column} {fmt}")
        for column, values in inspection.unmapped.items():
            shown = ", ".join(f"{v!r} ({n} rows)" for v, n in values[:10])
            lines.append(f"  unmapped {column}: {shown}")
        for column, why, n, line in result.rejected_reasons.get(f.file_name, [])[:10]:
            where = f" (first line {line})" if line is not None else ""
            lines.append(f"  would reject {n} rows: {column or 'line'}: {why}{where}")
    for path, reason in result.skipped:
        lines.append(f"{path.name}: skipped, {reason}")
    if result.problems:
        lines.append("the load would be refused:")
        lines += [f"  {problem}" for problem in result.problems]
    else:
        lines.append("the load would go ahead")
    return "\n".join(lines)


def print_result(result: LoadResult, *, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(result_record(result)), file=out, flush=True)
    elif result.checked:
        print(check_text(result), file=out)
    else:
        print(result.summary_text(), file=out)

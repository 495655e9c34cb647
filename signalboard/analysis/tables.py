"""What a report section hands to `signalboard report` and to the pages' download buttons."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class ReportTable:
    """One analysis table: written as `<name>.csv` and shown as a section of report.html.

    `name` is the public file name users script against (for example "funnel" -> funnel.csv):
    keep it exactly as the issue that introduced it names it.
    """

    name: str
    title: str
    frame: pd.DataFrame
    description: str = ""
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class SectionReport:
    """What one section publishes in a report: its tables and any extra files (name -> text).

    A section that computes once for both exposes `report(con, *, settings) -> SectionReport`;
    `signalboard report` then calls it once instead of `report_tables` and `report_files`.
    """

    tables: list[ReportTable]
    files: dict[str, str] = field(default_factory=dict)
    time_ratio_ci: tuple[float, float] | None = None
    """The time-to-hire section's 95% interval of the micro / traditional ratio of median days
    to hire, which the findings quote and no table holds (None from other sections)."""

"""Render docs/data-contract.md from etl/contract.py, so the document cannot drift from the code.

    python -m etl.contract_docs > docs/data-contract.md

`tests/etl/test_load_docs.py` fails when the committed document differs from this rendering.
"""

from __future__ import annotations

from etl.contract import TABLES, UNKNOWN, Column, TableSpec

# Rules the load checks across columns or tables (etl/load.py `_ROW_CHECKS`), in words.
ROW_RULES: dict[str, tuple[str, ...]] = {
    "rubrics": (
        "`min_score` < `max_score`.",
        "`pass_mark` within `min_score`..`max_score`.",
    ),
    "cohorts": (
        "`ends_on` >= `starts_on`.",
        "`estimated_hours` > 0.",
        "`rubric_version` exists in rubrics (loaded before or in the same load).",
    ),
    "applications": (
        "`cohort_id` is required when `track` = micro_internship and must be blank for "
        "traditional; it must exist in cohorts.",
        "`country` is two capital letters (ISO 3166-1 alpha-2), `region` looks like `US-CA` "
        "(ISO 3166-2), `metro` is a 5-digit CBSA code, `stipend_currency` three letters "
        "(ISO 4217).",
        "`stipend_currency` is required when `stipend_amount` is given.",
    ),
    "demographics": (
        f"`sex`: Female and Male are kept, any other non-blank answer is kept as given; blank "
        f"and 'Decline to state' become {UNKNOWN}.",
        f"`race_ethnicity`: one of the EEO-1 categories (case-insensitive); blank, 'Decline "
        f"to state' and unrecognised values become {UNKNOWN}.",
        "A further column loads as an attribute in `demographic_attributes` only when it is "
        "declared (SIGNALBOARD_DEMOGRAPHIC_ATTRIBUTES, default disability, veteran, age_band; "
        "or a mapping's `[demographics] attributes`); blank and 'Decline to state' become "
        f"{UNKNOWN}. Every other column is dropped, and so is a declared one that looks like "
        "an identifier: by its name (a name, e-mail, phone, date of birth, address, id number, "
        "free text) or its values (an e-mail, phone or date, over 100 characters, or nearly "
        "unique: with 20 or more values, more than half occur once). The load summary names "
        "each dropped column and why, never its values.",
        "A rejected demographics row keeps its file, line, column and reason, never its text.",
        "Candidates are not checked against applications: self-ID is kept apart.",
    ),
    "scores": (
        "`application_id` exists in applications.",
        "`axis` is an axis of the rubric_version of the application's cohort, and `score` "
        "is within that axis's `min_score`..`max_score` (scores of an application without a "
        "cohort, on the traditional track, have no rubric to check against).",
    ),
    "stage_events": (
        "`application_id` exists in applications.",
        "`occurred_at` is not before the application's `applied_at`.",
    ),
    "cost_of_living": ("`price_level` > 0.", "`country` is ISO 3166-1 alpha-2."),
    "fx_rates": ("`usd_per_unit` > 0.", "`currency` is ISO 4217 (three letters)."),
}

INTRO = """\
# Data contract

The canonical exports signalboard loads. This file is generated from `etl/contract.py`
(`python -m etl.contract_docs > docs/data-contract.md`); a test keeps them equal.

## Files

- One file per table, named after it: `applications.csv`, or with a suffix such as
  `applications_2024-06.csv.gz` (table name, then `_`, `-`, `.` or a space, then anything).
  Several files of one table load in name order; later rows replace earlier rows with the same
  key.
- CSV with a header row, `.csv` or gzipped `.csv.gz`, or Parquet (`.parquet`). Delimiter
  detected (comma, semicolon, tab, pipe); UTF-8 with or without BOM, or Latin-1 when the bytes
  are not UTF-8.
- Column names match case-insensitively (`Application_ID` is `application_id`). Extra
  columns are ignored, except in demographics, where they load as further attributes.
- Values are trimmed; a blank value is missing. Dates are ISO (`2024-06-30`), timestamps ISO
  (`2024-06-30 18:00:00`, `T` allowed); a timestamp with an offset (`+02:00`, `Z`) is converted
  to UTC. A column with no ISO value whose dates read `a/b/yyyy` is read day first when some
  `a` is over 12, month first when some `b` is; when every `a` and `b` is 12 or less the load is
  refused, asking for `date_format` in a mapping file. Never guessed row by row
  ([mappings.md](mappings.md#dates)).
- Files of any other name are skipped and listed as skipped, unless a converter in
  `etl/sources.py` recognises them (public price-level tables, for example).

## What the load does with each row

Every row is validated: required values present, types (a value that does not cast is
rejected, never guessed), allowed values, ranges, dates in order and references. A bad row goes
to the `rejects` table with its file, line (the header is line 1), columns, every reason and its
text (names and emails removed, ids pseudonymized; none for demographics) and stays out of the
analysis tables; every
valid row loads. A key repeated inside one file keeps its last valid row and rejects the
others (but stage events that a mapping merges keep the earliest, see
[mappings.md](mappings.md)). A file that cannot be used at all (missing required column, undetectable delimiter,
empty) stops the load with a one-line message naming the file, and the warehouse is unchanged.
`--strict` refuses the load on any rejected row. A load that would leave `applications` empty is
refused, unless it brings only public reference data (`cost_of_living`, `fx_rates`).

Bounds: a CSV record longer than 1 MiB (a quote that never closes, an oversized field) refuses
the load in one line before the file is parsed. A UTF-8 file with a few bytes that do not
decode rejects those lines (with their line numbers); a file with no UTF-8 text at all is read
as Latin-1 and the summary says so. A full disk or a folder without write permission, during
the load or the pseudonym key's creation, is a one-line error and leaves the warehouse and the
key as they were. Rows are stored in the order of their pseudonymous key, not the export's.

Personal data: `full_name` and `email` are never read into the warehouse. `application_id` and
`candidate_id` are stored as keyed pseudonyms (`a_...`, `c_...`: HMAC-SHA256 with a secret kept
in the pseudonym key file, outside the warehouse), the same for the same id on every load. The
warehouse records the key's fingerprint and refuses a load with another key
([warehouse.md](warehouse.md#the-pseudonym-key)).

## Vendor exports

A mapping file (TOML) renames a vendor's columns, values (such as stage names) and date formats
to the contract, and says which file names hold which table; a wide export (one row per
application, one column per stage) becomes one event per stage. Greenhouse, Lever and Ashby
mappings ship in `etl/mappings/`, each with an example export; [mappings.md](mappings.md)
documents the syntax: `signalboard load exports/ --mapping etl/mappings/lever.toml --check`.
"""


def _type(column: Column) -> str:
    return column.type


def _rules(column: Column) -> str:
    rules: list[str] = []
    if column.allowed is not None:
        rules.append("one of " + ", ".join(f"`{a}`" for a in column.allowed))
    if column.minimum is not None:
        rules.append(f">= {column.minimum:g}")
    if column.maximum is not None:
        rules.append(f"<= {column.maximum:g}")
    if column.privacy == "drop":
        rules.append("**never stored**")
    elif column.privacy is not None:
        rules.append("stored as a keyed pseudonym")
    return "; ".join(rules)


def _required(column: Column) -> str:
    if column.privacy == "drop":
        return "no"
    return "yes" if column.required else "no"


def render_table(spec: TableSpec) -> str:
    lines = [f"## {spec.name}.csv", ""]
    if spec.description:
        lines += [spec.description, ""]
    lines += [
        f"Grain: {spec.grain}. Key: {', '.join(f'`{k}`' for k in spec.key)} (a newer row "
        "with the same key replaces the stored one).",
        "",
        "| column | type | required | rules | description |",
        "|---|---|---|---|---|",
    ]
    for column in spec.columns:
        description = column.description.replace("|", "\\|")
        lines.append(
            f"| `{column.name}` | {_type(column)} | {_required(column)} | {_rules(column)} "
            f"| {description} |"
        )
    rules = ROW_RULES.get(spec.name, ())
    if rules:
        lines += ["", "Row rules:", ""] + [f"- {rule}" for rule in rules]
    return "\n".join(lines) + "\n"


def render() -> str:
    """The whole of docs/data-contract.md."""
    return INTRO + "\n" + "\n".join(render_table(spec) for spec in TABLES)


if __name__ == "__main__":
    print(render(), end="")

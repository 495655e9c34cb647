"""Which demographics columns may be stored: an allow-list, and screens for identifiers.

A demographics export keeps `sex` and `race_ethnicity` plus the attributes a deployment declares
(`load_paths(demographic_attributes=...)`, the setting SIGNALBOARD_DEMOGRAPHIC_ATTRIBUTES, a
mapping's `[demographics] attributes`). Every other column is dropped (deny by default), and so
is a declared one that looks like an identifier, by its name or by its values:

- its name says it holds a name, an e-mail, a phone number, a date of birth, an address, an id
  number or free text (`Candidate Name`, `E-mail`, `Phone Number`, `Date of Birth`, `Notes`);
- a value looks like an e-mail address, a phone number or a date, or is free text (a newline, or
  longer than `FREE_TEXT_CHARS`);
- its values are nearly unique per person: in a file with at least `NEARLY_UNIQUE_MIN_ROWS`
  non-blank values, more than `NEARLY_UNIQUE_SHARE` of them occur exactly once. A demographic
  attribute groups people (a value shared by fewer than k people is already suppressed in every
  report); one that singles most of them out is an identifier under another name.

The load reports each dropped column with its reason (never its values) in its summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

DECLARED_ATTRIBUTES: tuple[str, ...] = ("sex", "race_ethnicity")
"""Attributes every demographics export may carry (the contract's own columns)."""

DEFAULT_DEMOGRAPHIC_ATTRIBUTES: tuple[str, ...] = ("disability", "veteran", "age_band")
"""Further attributes kept when a caller declares none: the EEO-1 / OFCCP self-identification
questions besides sex and race (disability, protected veteran) and an age band."""

NEARLY_UNIQUE_SHARE = 0.5
"""A column whose values occur exactly once for more than this share of its rows is dropped."""

NEARLY_UNIQUE_MIN_ROWS = 20
"""Below this many non-blank values uniqueness says nothing (three rows are three distinct
values of any attribute), so the uniqueness screen does not apply."""

FREE_TEXT_CHARS = 100
"""A value longer than this is free text, not a category (the longest EEO-1 category has 35)."""

_NAME_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an e-mail address (by its name)", re.compile(r"e_?mail|(^|_)mail(_|$)")),
    (
        "a phone number (by its name)",
        re.compile(r"phone|(^|_)(mobile|cell|tel|telephone|fax|whatsapp)(_|$)"),
    ),
    ("a date of birth (by its name)", re.compile(r"birth|(^|_)(dob|born|bday)(_|$)")),
    (
        "an address (by its name)",
        re.compile(r"address|(^|_)(street|zip|zipcode|zip_code|postcode|postal|postal_code)(_|$)"),
    ),
    (
        "an id number (by its name)",
        re.compile(
            r"(^|_)(id|ids|uuid|ssn|sin|nin|passport|licen[cs]e|ip|url|linkedin|github|website)"
            r"(_|$)|social_?security|national_?id|tax_?id|identifier"
        ),
    ),
    (
        "a person's name (by its name)",
        re.compile(r"name$|(^|_)(names?|surname|forename|initials)(_|$)"),
    ),
    (
        "free text (by its name)",
        re.compile(
            r"(^|_)(comments?|notes?|remarks?|message|feedback|text|description|bio|summary|"
            r"answer|specify|free|other)(_|$)"
        ),
    ),
)


def attribute_name(column: str) -> str:
    """The attribute a column becomes: lower case, runs of other characters as one `_`."""
    return re.sub(r"[^0-9a-z]+", "_", column.strip().lower()).strip("_")


def identifier_by_name(attribute: str) -> str | None:
    """What the attribute's (normalised) name says it holds, if that is an identifier."""
    for reason, pattern in _NAME_RULES:
        if pattern.search(attribute):
            return reason
    return None


def allowed_attributes(*declared: Iterable[str]) -> frozenset[str]:
    """The attribute names a load keeps: the contract's, plus every declared one, normalised."""
    names = {attribute_name(a) for group in declared for a in group}
    return frozenset(n for n in names if n) | frozenset(DECLARED_ATTRIBUTES)


def screen_by_name(attribute: str, allowed: frozenset[str]) -> str | None:
    """Why an extra column is dropped before it is read (None: it may be kept)."""
    reason = identifier_by_name(attribute)
    if reason is not None:
        return f"looks like {reason}"
    if attribute not in allowed:
        return (
            "not a declared demographic attribute (declare it in "
            "SIGNALBOARD_DEMOGRAPHIC_ATTRIBUTES or the mapping's [demographics] attributes)"
        )
    return None


# Patterns for DuckDB's RE2 (regexp_matches / regexp_full_match), applied to trimmed values.
_EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
_PHONE = r"\+?[0-9(][0-9 ().\-/]{5,}[0-9]"
_DATE = r"[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}([ T].*)?"


def value_screen_sql(table: str, columns: Sequence[str]) -> str:
    """SQL returning one row: per column, in order, the five counts `screen_by_values` reads.

    `columns` are quoted identifiers of text columns of `table` (blank = NULL).
    """
    parts = []
    for column in columns:
        parts.append(
            f"""(select [
                count(v),
                count(v) filter (where regexp_matches(v, '{_EMAIL}')),
                count(v) filter (where regexp_full_match(v, '{_PHONE}')
                                  or regexp_full_match(v, '{_DATE}')),
                count(v) filter (where length(v) > {FREE_TEXT_CHARS} or contains(v, chr(10))),
                coalesce(sum(n) filter (where n = 1), 0)
            ] from (select v, count(*) over (partition by v) as n
                    from (select {column} as v from {table}) where v is not null))"""
        )
    return "select " + ", ".join(parts)


def screen_by_values(counts: Sequence[int]) -> str | None:
    """Why a column is dropped given its counts from `value_screen_sql` (None: kept).

    counts: non-blank values, e-mail-like, phone- or date-like, free text, values occurring once.
    """
    present, emails, phones_or_dates, free_text, singletons = (int(c) for c in counts)
    if emails:
        return "looks like an e-mail address (by its values)"
    if phones_or_dates:
        return "looks like a phone number or a date (by its values)"
    if free_text:
        return (
            f"looks like free text (a value longer than {FREE_TEXT_CHARS} characters or a newline)"
        )
    if present >= NEARLY_UNIQUE_MIN_ROWS and singletons > NEARLY_UNIQUE_SHARE * present:
        return (
            f"nearly unique per person ({singletons} of {present} values occur once; "
            f"more than {NEARLY_UNIQUE_SHARE:.0%} means an identifier)"
        )
    return None


def shown_column_name(column: str) -> str:
    """A file's column name as the summary prints it: printable characters, at most 60."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in column)
    return repr(clean[:60] + ("..." if len(clean) > 60 else ""))

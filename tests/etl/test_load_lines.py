"""Rejects name the exact line of the file, wherever the bad rows are.

The load reads a CSV first without line numbers (on every core) and reads it again numbered only
when a row needs its line, so these tests put bad rows, repeated keys and unparseable lines at
random places and compare every reject's line with the line computed here from the file's text;
and check that a clean file stores the same rows either way.
"""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.load_helpers import EXPORTS, load, settings_for, write_exports

HEADER = "application_id,grader_id,grader_kind,axis,score,scored_at"


def frame(db: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def assert_rejects_at(db: Path, expected: dict[int, str]) -> None:
    """The scores rejects are exactly on `expected`'s lines, each with its reason fragment."""
    rejects = frame(
        db, "select line, reason from rejects where table_name = 'scores' order by line"
    )
    assert rejects["line"].tolist() == sorted(expected)
    for line, reason in zip(rejects["line"], rejects["reason"], strict=True):
        assert expected[line] in reason, (line, reason)


def scores_file(seed: int, rows: int) -> tuple[str, dict[int, str], set[tuple[str, str, int]]]:
    """A scores export with bad rows at random lines.

    Returns its text, the expected reject reason fragment per line, and the (grader_id, axis,
    score) rows that must load.
    """
    rng = random.Random(seed)
    lines = [HEADER]
    expected: dict[int, str] = {}
    kept: dict[tuple[str, str], tuple[int, int]] = {}  # key -> (line, score) of the last valid row
    repeated: dict[tuple[str, str], list[int]] = {}  # key -> lines of its earlier valid rows
    for i in range(rows):
        line = len(lines) + 1
        axis = rng.choice(["code_quality", "communication"])
        kind = rng.random()
        if kind < 0.01:
            lines.append(f"A1,g{i},human,{axis},abc,2024-01-29 10:00:00")
            expected[line] = "not a number: abc"
        elif kind < 0.02:
            lines.append(f"A1,g{i},human,{axis},4,2024-01-29 10:00:00,extra")
            expected[line] = "line could not be parsed"
        elif kind < 0.03 and kept:
            grader, axis = rng.choice(sorted(kept))
            repeated.setdefault((grader, axis), []).append(kept[(grader, axis)][0])
            score = rng.randint(1, 5)
            lines.append(f"A1,{grader},human,{axis},{score},2024-01-29 10:00:00")
            kept[(grader, axis)] = (line, score)
        else:
            score = rng.randint(1, 5)
            lines.append(f"A1,g{i},human,{axis},{score},2024-01-29 10:00:00")
            kept[(f"g{i}", axis)] = (line, score)
    for key, earlier in repeated.items():
        for number in earlier:  # every earlier row names the last one, which is kept
            expected[number] = (
                f"duplicate key (application_id, grader_id, axis): line {kept[key][0]} "
            )
    loaded = {(grader, axis, score) for (grader, axis), (_, score) in kept.items()}
    return "\n".join(lines) + "\n", expected, loaded


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_reject_names_its_line_in_the_file(tmp_path: Path, seed: int) -> None:
    text, expected, loaded = scores_file(seed, rows=3000)
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "in", scores=text)], settings)
    assert_rejects_at(settings.db_path, expected)
    stored = frame(settings.db_path, "select grader_id, axis, score from scores")
    assert set(stored.itertuples(index=False, name=None)) == loaded
    assert len(stored) == len(loaded)


def test_a_reject_does_not_change_what_the_clean_rows_store(tmp_path: Path) -> None:
    """A clean file is read once unnumbered; one bad row makes the load read it numbered. Every
    other row stores the same values, pseudonyms included, either way."""
    text, expected, _ = scores_file(7, rows=2000)
    clean = "\n".join(
        line for number, line in enumerate(text.splitlines(), start=1) if number not in expected
    )
    key = tmp_path / "pseudonym.key"
    stored = []
    for name, scores in (("clean", clean + "\n"), ("dirty", clean + "\nA1,gx,human,x,abc,\n")):
        settings = settings_for(tmp_path / name)
        settings = type(settings)(db_path=settings.db_path, pseudonym_key_file=key)
        result = load([write_exports(tmp_path / name / "in", scores=scores)], settings)
        assert result.rows_rejected == (name == "dirty")
        stored.append(frame(settings.db_path, "select * from scores order by all"))
    assert len(stored[0]) == clean.count("\n")
    pd.testing.assert_frame_equal(stored[0], stored[1])


def test_the_sample_exports_load_without_rejects_either_way(tmp_path: Path) -> None:
    """The hand-written exports (every row valid) take the unnumbered read for every CSV."""
    settings = settings_for(tmp_path)
    result = load([write_exports(tmp_path / "in")], settings)
    assert result.rows_rejected == 0
    assert result.rows_loaded == sum(text.count("\n") - 1 for text in EXPORTS.values())


def test_an_unparseable_line_near_the_top_neither_stops_the_load_nor_hides_the_delimiter(
    tmp_path: Path,
) -> None:
    """The delimiter is sniffed as the read sniffed it (tolerating bad lines): without that, a
    sample with a too-long line read as '|', and on a bigger file the sniff failed and aborted
    the load's transaction."""
    header, *rows = EXPORTS["demographics.csv"].splitlines()
    text = "\n".join([header, rows[0], rows[1] + ",extra", *rows[2:]]) + "\n"
    settings = settings_for(tmp_path)
    result = load([write_exports(tmp_path / "in", demographics=text)], settings)
    [demographics] = [f for f in result.files if f.table == "demographics"]
    assert (demographics.rows_loaded, demographics.rows_rejected) == (len(rows) - 1, 1)
    assert demographics.delimiter == ","
    reject = frame(settings.db_path, "select line, reason from rejects").iloc[0]
    assert reject["line"] == 3 and "too many columns" in reject["reason"]


def messy_scores_file(seed: int, rows: int, *, newline: str) -> tuple[str, dict[int, str], int]:
    """A scores export with blank lines and quoted fields that span two lines, and bad rows.

    Returns its text, the expected reject reason fragment per physical line (where the row
    starts), and how many rows must load.
    """
    rng = random.Random(seed)
    physical: list[str] = [HEADER]
    expected: dict[int, str] = {}
    valid = 0
    for i in range(rows):
        if rng.random() < 0.05:
            physical.extend([""] * rng.randint(1, 3))  # blank lines, which the reader skips
        start = len(physical) + 1
        # a grader id with a line break inside quotes: one row, two lines
        grader = f'"g{i}{newline}b"' if rng.random() < 0.1 else f"g{i}"
        kind = rng.random()
        if kind < 0.02:
            row = f"A1,{grader},human,code_quality,abc,2024-01-29 10:00:00"
            expected[start] = "not a number: abc"
        elif kind < 0.03:
            row = f"A1,{grader},human,code_quality,4,2024-01-29 10:00:00,extra"
            expected[start] = "line could not be parsed"
        else:
            row = f"A1,{grader},human,code_quality,{rng.randint(1, 5)},2024-01-29 10:00:00"
            valid += 1
        physical.extend(row.split(newline))
    return newline.join(physical) + newline, expected, valid


@pytest.mark.parametrize(
    ("seed", "newline", "compress"),
    [(1, "\n", False), (2, "\r\n", False), (3, "\n", True)],
    ids=["lf", "crlf", "gzip"],
)
def test_rejects_name_the_physical_line_past_blank_lines_and_multi_line_fields(
    tmp_path: Path, seed: int, newline: str, compress: bool
) -> None:
    """DuckDB skips blank lines and counts a quoted field spanning lines as one line; a reject
    still names the line the row starts on, as an editor shows it."""
    import gzip

    text, expected, valid = messy_scores_file(seed, rows=2000, newline=newline)
    folder = write_exports(tmp_path / "in", scores=text)
    if compress:
        plain = folder / "scores.csv"
        (folder / "scores.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()
    settings = settings_for(tmp_path)
    result = load([folder], settings)
    assert_rejects_at(settings.db_path, expected)
    [scores] = [f for f in result.files if f.table == "scores"]
    assert scores.rows_loaded == valid

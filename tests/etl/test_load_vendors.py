"""Each shipped mapping loads its example export (etl/mappings/examples/<vendor>/, built from the
contract sample by tests/mapping_examples.py) to the same rows as the canonical files it was built
from: the same applications (same pseudonyms under the same key), the same events per stage."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from signalboard.settings import Settings
from tests.load_helpers import load
from tests.mapping_examples import APPLICATIONS, BUILDERS, EXAMPLES, canonical_subset
from tests.paths import REPO_ROOT

COMPARED = {
    "applications": "select application_id, candidate_id, track, cohort_id, role, source, "
    "country, region, metro, stipend_amount, stipend_currency, hours_logged, "
    "date_trunc('minute', applied_at) from applications",
    "stage_events": "select application_id, event, date_trunc('minute', occurred_at) "
    "from stage_events",
}


def snapshot(db: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            table: sorted(con.execute(sql).fetchall(), key=repr) for table, sql in COMPARED.items()
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def canonical(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[tuple]]]:
    folder = tmp_path_factory.mktemp("canonical")
    settings = Settings(db_path=folder / "w.duckdb", pseudonym_key_file=folder / "pseudonym.key")
    result = load([canonical_subset(folder / "csv")], settings)
    assert result.rows_rejected == 0
    return settings.pseudonym_key_file, snapshot(settings.db_path)


@pytest.mark.parametrize("vendor", sorted(BUILDERS))
def test_shipped_examples_are_the_builders_output(vendor: str) -> None:
    for name, text in BUILDERS[vendor]().items():
        assert (EXAMPLES / vendor / name).read_text() == text, name


@pytest.mark.parametrize("vendor", sorted(BUILDERS))
def test_each_mapping_loads_its_example_like_the_contract_sample(
    vendor: str, tmp_path: Path, canonical: tuple[Path, dict[str, list[tuple]]]
) -> None:
    key_file, expected = canonical
    settings = Settings(db_path=tmp_path / "w.duckdb", pseudonym_key_file=key_file)
    mapping = REPO_ROOT / "etl" / "mappings" / f"{vendor}.toml"
    result = load([EXAMPLES / vendor], settings, mapping=mapping, strict=True)
    assert result.rows_rejected == 0
    assert all(not f.inspection.unmapped for f in result.files if f.inspection)
    got = snapshot(settings.db_path)
    assert len(got["applications"]) == APPLICATIONS
    assert {t: len(v) for t, v in got.items()} == {t: len(v) for t, v in expected.items()}
    assert got == expected


def test_lever_feeds_applications_and_events_from_one_file(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "w.duckdb", pseudonym_key_file=tmp_path / "k")
    result = load(
        [EXAMPLES / "lever"], settings, mapping=REPO_ROOT / "etl" / "mappings" / "lever.toml"
    )
    tables = [f.table for f in result.files if f.file_name == "lever_opportunities.csv"]
    assert tables == ["applications", "stage_events"]
    [events] = [f for f in result.files if f.table == "stage_events"]
    assert "Archived At (GMT)" in events.inspection.stage_columns
    # Loading the same file again changes nothing, for both tables.
    assert not load(
        [EXAMPLES / "lever"], settings, mapping=REPO_ROOT / "etl/mappings/lever.toml"
    ).changed


def test_a_stage_column_missing_from_the_file_stops_the_load(tmp_path: Path) -> None:
    from etl.load import LoadError

    folder = tmp_path / "lever"
    folder.mkdir()
    for path in (EXAMPLES / "lever").iterdir():
        text = path.read_text().replace("Stage: Extension (GMT)", "Stage: Extended (GMT)")
        (folder / path.name).write_text(text)
    with pytest.raises(LoadError, match=r"stage column 'Stage: Extension \(GMT\)' named in the "):
        load(
            [folder],
            Settings(db_path=tmp_path / "w.duckdb", pseudonym_key_file=tmp_path / "k"),
            mapping=REPO_ROOT / "etl" / "mappings" / "lever.toml",
        )

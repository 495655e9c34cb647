"""The BEA and World Bank cost-of-living readers (etl/cost_of_living.py) on quirky fixture files.

Published values the fixtures carry (copied from the team's cost-of-living reference notes):
BEA all-items RPPs 2023 (release of 2024-12-12): California 112.6, New Jersey 108.9, Hawaii 108.6,
District of Columbia 110.8, Arkansas 86.5, Mississippi 87.3, South Dakota 88.1; metros 2023 (MARPP):
San Francisco-Oakland-Fremont (CBSA 41860) 117.55, Albuquerque (10740) 92.96. World Bank
PA.NUS.PRVT.PLI, Switzerland 2024: 125.756. PA.NUS.PRVT.PP 2023 (rounded): Canada 1.2, India 19.5.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from etl.cost_of_living import (
    COLUMNS,
    CostOfLivingFormatError,
    detect,
    read_bea_rpp,
    read_cost_of_living,
    read_world_bank,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "col"
SARPP = FIXTURES / "SARPP_STATE_2008_2023.csv"
MARPP = FIXTURES / "MARPP_MSA_2008_2023.csv"
PLI = FIXTURES / "API_PA.NUS.PRVT.PLI_DS2_en_csv_v2.csv"
PPP = FIXTURES / "API_PA.NUS.PRVT.PP_DS2_en_csv_v2.csv"
FX = FIXTURES / "API_PA.NUS.FCRF_DS2_en_csv_v2.csv"


def _level(rows, region=None, country="US") -> float:
    match = rows[(rows["country"] == country) & (rows["region"].fillna("") == (region or ""))]
    assert len(match) == 1, f"{country}/{region}: {len(match)} rows"
    return float(match["price_level"].iloc[0])


def test_fixture_quirks_are_present() -> None:
    """The fixtures really have the quirks: latin-1, leading-space quoted GeoFIPS, (NA), ' *'."""
    raw = MARPP.read_bytes()
    assert b' "00000"' in raw and b"(NA)" in raw and b' *"' in raw and b"Ca\xf1on" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b"Note: See the included footnote file." in raw
    lines = PLI.read_text(encoding="utf-8-sig").splitlines()
    assert lines[4].startswith('"Country Name"') and lines[4].endswith(",")


@pytest.mark.parametrize(
    ("path", "kind"),
    [(SARPP, "bea_rpp"), (MARPP, "bea_rpp"), (PLI, "world_bank"), (PPP, "world_bank")],
)
def test_detect_by_shape_not_name(path: Path, kind: str, tmp_path: Path) -> None:
    renamed = tmp_path / "download (3).csv"
    shutil.copy(path, renamed)
    assert detect(renamed) == kind


def test_detect_ignores_other_files(tmp_path: Path) -> None:
    other = tmp_path / "applications.csv"
    other.write_text("application_id,candidate_id\na,b\n")
    assert detect(other) is None
    assert detect(tmp_path / "missing.csv") is None


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (None, 100.0),
        ("US-CA", 112.6),
        ("US-NJ", 108.9),
        ("US-HI", 108.6),
        ("US-DC", 110.8),
        ("US-AR", 86.5),
        ("US-MS", 87.3),
        ("US-SD", 88.1),
    ],
)
def test_sarpp_published_values(region: str | None, expected: float) -> None:
    rows = read_bea_rpp(SARPP)
    assert _level(rows, region) == expected


def test_sarpp_selects_all_items_and_skips_bea_regions_and_footnotes() -> None:
    rows = read_bea_rpp(SARPP)
    assert list(rows.columns) == list(COLUMNS)
    # 7 states + the nation; the housing row, "New England" (91000) and footnotes are not places.
    assert len(rows) == 8
    assert set(rows["source"]) == {"BEA SARPP"} and set(rows["vintage"]) == {"2023"}


@pytest.mark.parametrize(
    ("cbsa", "expected"), [("41860", 117.55), ("10740", 92.96), ("21420", 85.5), ("35620", 112.64)]
)
def test_marpp_keyed_by_cbsa(cbsa: str, expected: float) -> None:
    rows = read_bea_rpp(MARPP)
    assert _level(rows, cbsa) == expected


def test_marpp_by_description_not_line_code_and_na_dropped() -> None:
    rows = read_bea_rpp(MARPP)
    # Abilene has LineCode 1 on a "Goods" row and no all-items row: it must not appear.
    assert "10180" not in set(rows["region"].dropna())
    # Cañon City is (NA) in 2023: left out so a lookup falls back, never a made-up index.
    assert "15860" not in set(rows["region"].dropna())
    assert set(rows["source"]) == {"BEA MARPP"}


def test_bea_year_selection() -> None:
    rows = read_bea_rpp(SARPP, year=2022)
    assert _level(rows, "US-CA") == 112.5 and set(rows["vintage"]) == {"2022"}
    # Enid is (NA) in 2022: the 2022 vintage has no row for it.
    assert "21420" not in set(read_bea_rpp(MARPP, year="2022")["region"].dropna())
    with pytest.raises(CostOfLivingFormatError, match="year 1999"):
        read_bea_rpp(SARPP, year=1999)


def test_world_bank_pli_latest_year_skips_aggregates() -> None:
    rows = read_world_bank(PLI)
    assert _level(rows, country="CH") == 125.756
    assert _level(rows, country="US") == 100.0
    assert set(rows["vintage"]) == {"2024"}
    assert set(rows["source"]) == {"World Bank PA.NUS.PRVT.PLI"}
    assert rows["region"].isna().all()
    assert len(rows) == 2  # WLD is an aggregate; blank countries are left out


def test_world_bank_ppp_with_exchange_rate_by_hand() -> None:
    """price_level = 100 * PPP / market rate: Canada 100 * 1.2 / 1.35 = 88.888..., India
    100 * 19.5 / 82.6 = 23.6077..., the United States 100 * 1.0 / 1 = 100."""
    rows = read_world_bank(PPP, exchange_rates=FX)
    assert _level(rows, country="CA") == pytest.approx(88.8888889)
    assert _level(rows, country="IN") == pytest.approx(23.6077482)
    assert _level(rows, country="US") == pytest.approx(100.0)
    assert set(rows["vintage"]) == {"2023"}


def test_world_bank_ppp_needs_exchange_rate() -> None:
    with pytest.raises(CostOfLivingFormatError, match="exchange rate"):
        read_world_bank(PPP)


def test_read_cost_of_living_finds_exchange_rate_sibling() -> None:
    siblings = sorted(FIXTURES.glob("*.csv"))
    rows = read_cost_of_living(PPP, siblings=siblings)
    assert _level(rows, country="CA") == pytest.approx(88.8888889)
    assert read_cost_of_living(FX, siblings=siblings).empty


def test_unsupported_table_is_refused(tmp_path: Path) -> None:
    parrp = tmp_path / "PARPP.csv"
    parrp.write_bytes(SARPP.read_bytes().replace(b",SARPP,", b",PARPP,"))
    with pytest.raises(CostOfLivingFormatError, match="PARPP"):
        read_bea_rpp(parrp)


def test_signalboard_load_recognises_files_by_shape(tmp_path: Path) -> None:
    """The load's converter hook (etl/sources.py) picks the files up under any name."""
    from etl.load import load_paths
    from signalboard.db import connect_readonly, query_df
    from signalboard.settings import Settings

    folder = tmp_path / "downloads"
    folder.mkdir()
    for number, path in enumerate((SARPP, MARPP, PLI, PPP, FX)):
        shutil.copy(path, folder / f"export ({number}).csv")
    settings = Settings(db_path=tmp_path / "w.duckdb", pseudonym_key_file=tmp_path / "key")
    load_paths([folder], settings=settings, progress=False)
    con = connect_readonly(settings.db_path)
    try:
        counts = query_df(
            con, "select source, vintage, count(*) as n from cost_of_living group by all"
        )
        levels = query_df(
            con,
            "select price_level from cost_of_living where country = 'US' and region = '41860'",
        )
    finally:
        con.close()
    got = {(r.source, r.vintage): r.n for r in counts.itertuples()}
    assert got == {
        ("BEA SARPP", "2023"): 8,
        ("BEA MARPP", "2023"): 13,
        ("World Bank PA.NUS.PRVT.PLI", "2024"): 2,
        ("World Bank PA.NUS.PRVT.PP", "2023"): 10,
    }
    assert levels["price_level"].tolist() == [117.55]

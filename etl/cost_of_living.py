"""Readers for official cost-of-living files: rows for the warehouse's cost_of_living table.

Two publishers, every quirk of their CSVs handled here (see docs/stipends.md):

- BEA Regional Price Parities, SARPP (states) and MARPP (metro areas): GeoFIPS quoted with a
  leading space, missing values as ``(NA)``, names ending in `` *``, footnote lines after the
  data, latin-1 encoding. The all-items row is chosen by its Description ("RPPs: All items"),
  not by LineCode (line codes differ between tables and releases). Metros are keyed by their CBSA
  code, never by name: BEA renames metros between releases.
- World Bank bulk CSVs (API_<indicator>_DS2_...csv): four metadata lines before the header and a
  trailing empty column. PA.NUS.PRVT.PLI (price level index, households, USA = 100) is stored as
  is. PA.NUS.PRVT.PP (PPP conversion factor, local currency per international $) becomes a price
  level with the official exchange rate PA.NUS.FCRF (local currency per US$) of the same year:
  price_level = 100 * PPP / exchange rate.

Every row carries its source and vintage (the data year): vintages are not comparable, and the
stipend analysis warns when one analysis mixes them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pandas as pd

from etl.sources import ConvertedFile, register

COLUMNS: tuple[str, ...] = ("country", "region", "price_level", "source", "vintage")
"""The columns of the contract's cost_of_living table, in order."""

FileKind = Literal["bea_rpp", "world_bank"]

BEA_ALL_ITEMS = "RPPs: All items"
WB_PLI = "PA.NUS.PRVT.PLI"
WB_PPP = "PA.NUS.PRVT.PP"
WB_FX = "PA.NUS.FCRF"

# State FIPS code -> ISO 3166-2 subdivision (the applications table stores regions as US-CA).
STATE_FIPS: dict[str, str] = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT",
    "10": "DE", "11": "DC", "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL",
    "18": "IN", "19": "IA", "20": "KS", "21": "KY", "22": "LA", "23": "ME", "24": "MD",
    "25": "MA", "26": "MI", "27": "MN", "28": "MS", "29": "MO", "30": "MT", "31": "NE",
    "32": "NV", "33": "NH", "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND",
    "39": "OH", "40": "OK", "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD",
    "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA", "54": "WV",
    "55": "WI", "56": "WY", "72": "PR",
}  # fmt: skip

# ISO 3166-1 alpha-3 -> alpha-2 (from Debian's iso-codes, ISO 3166-1). World Bank aggregates
# ("WLD", "EUU", "HIC", ...) are not countries and are not in the table, so they are skipped.
_ISO3_TO_ISO2_TEXT = (
    "ABW:AW AFG:AF AGO:AO AIA:AI ALA:AX ALB:AL AND:AD ARE:AE ARG:AR ARM:AM ASM:AS ATA:AQ ATF:TF "
    "ATG:AG AUS:AU AUT:AT AZE:AZ BDI:BI BEL:BE BEN:BJ BES:BQ BFA:BF BGD:BD BGR:BG BHR:BH BHS:BS "
    "BIH:BA BLM:BL BLR:BY BLZ:BZ BMU:BM BOL:BO BRA:BR BRB:BB BRN:BN BTN:BT BVT:BV BWA:BW CAF:CF "
    "CAN:CA CCK:CC CHE:CH CHL:CL CHN:CN CIV:CI CMR:CM COD:CD COG:CG COK:CK COL:CO COM:KM CPV:CV "
    "CRI:CR CUB:CU CUW:CW CXR:CX CYM:KY CYP:CY CZE:CZ DEU:DE DJI:DJ DMA:DM DNK:DK DOM:DO DZA:DZ "
    "ECU:EC EGY:EG ERI:ER ESH:EH ESP:ES EST:EE ETH:ET FIN:FI FJI:FJ FLK:FK FRA:FR FRO:FO FSM:FM "
    "GAB:GA GBR:GB GEO:GE GGY:GG GHA:GH GIB:GI GIN:GN GLP:GP GMB:GM GNB:GW GNQ:GQ GRC:GR GRD:GD "
    "GRL:GL GTM:GT GUF:GF GUM:GU GUY:GY HKG:HK HMD:HM HND:HN HRV:HR HTI:HT HUN:HU IDN:ID IMN:IM "
    "IND:IN IOT:IO IRL:IE IRN:IR IRQ:IQ ISL:IS ISR:IL ITA:IT JAM:JM JEY:JE JOR:JO JPN:JP KAZ:KZ "
    "KEN:KE KGZ:KG KHM:KH KIR:KI KNA:KN KOR:KR KWT:KW LAO:LA LBN:LB LBR:LR LBY:LY LCA:LC LIE:LI "
    "LKA:LK LSO:LS LTU:LT LUX:LU LVA:LV MAC:MO MAF:MF MAR:MA MCO:MC MDA:MD MDG:MG MDV:MV MEX:MX "
    "MHL:MH MKD:MK MLI:ML MLT:MT MMR:MM MNE:ME MNG:MN MNP:MP MOZ:MZ MRT:MR MSR:MS MTQ:MQ MUS:MU "
    "MWI:MW MYS:MY MYT:YT NAM:NA NCL:NC NER:NE NFK:NF NGA:NG NIC:NI NIU:NU NLD:NL NOR:NO NPL:NP "
    "NRU:NR NZL:NZ OMN:OM PAK:PK PAN:PA PCN:PN PER:PE PHL:PH PLW:PW PNG:PG POL:PL PRI:PR PRK:KP "
    "PRT:PT PRY:PY PSE:PS PYF:PF QAT:QA REU:RE ROU:RO RUS:RU RWA:RW SAU:SA SDN:SD SEN:SN SGP:SG "
    "SGS:GS SHN:SH SJM:SJ SLB:SB SLE:SL SLV:SV SMR:SM SOM:SO SPM:PM SRB:RS SSD:SS STP:ST SUR:SR "
    "SVK:SK SVN:SI SWE:SE SWZ:SZ SXM:SX SYC:SC SYR:SY TCA:TC TCD:TD TGO:TG THA:TH TJK:TJ TKL:TK "
    "TKM:TM TLS:TL TON:TO TTO:TT TUN:TN TUR:TR TUV:TV TWN:TW TZA:TZ UGA:UG UKR:UA UMI:UM URY:UY "
    "USA:US UZB:UZ VAT:VA VCT:VC VEN:VE VGB:VG VIR:VI VNM:VN VUT:VU WLF:WF WSM:WS YEM:YE ZAF:ZA "
    "ZMB:ZM ZWE:ZW "
    "XKX:XK"  # Kosovo: the World Bank's code, ISO's user-assigned XK
)
ISO3_TO_ISO2: dict[str, str] = dict(pair.split(":") for pair in _ISO3_TO_ISO2_TEXT.split())

_YEAR = re.compile(r"^\d{4}$")


class CostOfLivingFormatError(ValueError):
    """A file looks like a cost-of-living export but cannot be read; the message says why."""


def _read_text(path: Path) -> str:
    # BEA publishes latin-1 (accented metro names); the World Bank publishes UTF-8 with a BOM.
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _clean(cell: str) -> str:
    return cell.strip().strip('"').strip()


def detect(path: str | Path) -> FileKind | None:
    """Which cost-of-living layout a file has: "bea_rpp", "world_bank", or None.

    Recognised by shape (the header), not by file name, so renamed downloads load too.

    Examples
    --------
    >>> detect(Path("tests/fixtures/col/SARPP_STATE_2008_2023.csv"))
    'bea_rpp'
    """
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".txt"):
        return None
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    text = head.decode("latin-1")
    lines = text.splitlines()
    first = lines[0].lstrip("\ufeff").lstrip("\xef\xbb\xbf") if lines else ""
    if first.replace('"', "").startswith("GeoFIPS,GeoName") and "TableName" in first:
        return "bea_rpp"
    for line in lines[:8]:
        if line.replace('"', "").startswith("Country Name,Country Code,Indicator Name"):
            return "world_bank"
    return None


def _pick_years(years: list[str], has_value: dict[str, bool], year: str | None) -> list[str]:
    if year is not None:
        if str(year) not in years:
            raise CostOfLivingFormatError(
                f"year {year} is not in the file (years: {years[0]}..{years[-1]})"
            )
        return [str(year)]
    with_values = [y for y in years if has_value.get(y)]
    if not with_values:
        raise CostOfLivingFormatError("the file has no values in any year column")
    return [with_values[-1]]


def read_bea_rpp(path: str | Path, *, year: str | int | None = None) -> pd.DataFrame:
    """Read a BEA SARPP (states) or MARPP (metro areas) CSV into cost_of_living rows.

    The all-items regional price parity (US = 100) of one year per place: the latest year column
    that has values, or `year`. Places whose value is ``(NA)`` that year are left out, so a
    lookup falls back to the next less specific place instead of using a wrong index.

    Parameters
    ----------
    path : the BEA CSV (latin-1 or UTF-8).
    year : the data year to keep; None keeps the latest year that has values.

    Returns
    -------
    DataFrame with the columns of `COLUMNS`: country "US", region "US-CA" (SARPP), the CBSA code
    (MARPP) or blank (the United States row), source "BEA SARPP" / "BEA MARPP", vintage the year.

    Examples
    --------
    >>> rows = read_bea_rpp(Path("tests/fixtures/col/SARPP_STATE_2008_2023.csv"))
    >>> float(rows.loc[rows["region"] == "US-CA", "price_level"].iloc[0])
    112.6
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(_read_text(path)))
    header = [_clean(h) for h in next(reader, [])]
    required = ("GeoFIPS", "GeoName", "TableName", "Description")
    if any(name not in header for name in required):
        raise CostOfLivingFormatError(f"{path.name}: not a BEA RPP file (header {header[:4]})")
    at = {name: header.index(name) for name in required}
    years = [h for h in header if _YEAR.match(h)]
    if not years:
        raise CostOfLivingFormatError(f"{path.name}: no year columns in the header")
    year_at = {y: header.index(y) for y in years}

    records: list[dict[str, str]] = []
    tables: set[str] = set()
    for row in reader:
        # Footnote lines ("Note: ...", "U.S. Bureau of Economic Analysis") have no 5-digit GeoFIPS.
        if len(row) <= at["Description"]:
            continue
        fips = _clean(row[at["GeoFIPS"]])
        if not (len(fips) == 5 and fips.isdigit()):
            continue
        if not _clean(row[at["Description"]]).startswith(BEA_ALL_ITEMS):
            continue
        table = _clean(row[at["TableName"]]).upper()
        tables.add(table)
        record = {"fips": fips, "table": table}
        for y in years:
            record[y] = _clean(row[year_at[y]]) if year_at[y] < len(row) else ""
        records.append(record)
    if not records:
        raise CostOfLivingFormatError(f"{path.name}: no '{BEA_ALL_ITEMS}' rows")
    unsupported = tables - {"SARPP", "MARPP"}
    if unsupported:
        raise CostOfLivingFormatError(
            f"{path.name}: table {', '.join(sorted(unsupported))} is not supported; load SARPP "
            "(states) or MARPP (metro areas)"
        )
    frame = pd.DataFrame(records)
    values = frame[years].apply(
        lambda col: pd.to_numeric(col.where(col != "(NA)"), errors="coerce")
    )
    chosen = _pick_years(years, {y: bool(values[y].notna().any()) for y in years}, _opt(year))[0]

    fips = frame["fips"]
    is_nation = fips == "00000"
    is_state = (frame["table"] == "SARPP") & fips.str.endswith("000") & ~is_nation
    region = pd.Series(pd.NA, index=frame.index, dtype="object")
    region[is_state] = fips[is_state].str[:2].map(STATE_FIPS).radd("US-")
    is_metro = frame["table"] == "MARPP"
    region[is_metro & ~is_nation] = fips[is_metro & ~is_nation]
    keep = (is_nation | region.notna()) & values[chosen].notna()
    out = pd.DataFrame(
        {
            "country": "US",
            "region": region.where(~is_nation, None),
            "price_level": values[chosen].astype(float),
            "source": "BEA " + frame["table"],
            "vintage": chosen,
        }
    )[keep]
    return _finish(out)


def _opt(year: str | int | None) -> str | None:
    return None if year is None else str(year)


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.loc[:, list(COLUMNS)].drop_duplicates(["country", "region", "source", "vintage"])
    frame["region"] = frame["region"].astype("object").where(frame["region"].notna(), None)
    return frame.sort_values(["country", "region"], na_position="first").reset_index(drop=True)


def _read_world_bank_values(path: Path) -> tuple[pd.DataFrame, list[str], str]:
    """Indicator values of a World Bank bulk CSV: (country iso2 x years frame, years, indicator)."""
    lines = _read_text(path).splitlines()
    # Four metadata lines (source, blank, last updated, blank) come before the header; look for
    # the header instead of counting, so a file saved without the blank lines reads too.
    start = next(
        (
            i
            for i, line in enumerate(lines[:10])
            if line.replace('"', "").startswith("Country Name,Country Code")
        ),
        None,
    )
    if start is None:
        raise CostOfLivingFormatError(f"{path.name}: no World Bank header line")
    rows = list(csv.reader(lines[start:]))
    header = [_clean(h) for h in rows[0]]
    years = [h for h in header if _YEAR.match(h)]  # the trailing empty column is not a year
    body = [r for r in rows[1:] if len(r) >= 4]
    if not body:
        raise CostOfLivingFormatError(f"{path.name}: no data rows")
    frame = pd.DataFrame([r[: len(header)] for r in body], columns=header)
    indicators = set(frame["Indicator Code"].str.strip())
    if len(indicators) != 1:
        raise CostOfLivingFormatError(f"{path.name}: expected one indicator, found {indicators}")
    indicator = indicators.pop()
    frame["country"] = frame["Country Code"].str.strip().map(ISO3_TO_ISO2)
    frame = frame[frame["country"].notna()].set_index("country")
    values = frame[years].apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    return values, years, indicator


def read_world_bank(
    path: str | Path,
    *,
    year: str | int | None = None,
    exchange_rates: str | Path | None = None,
) -> pd.DataFrame:
    """Read a World Bank PLI or PPP bulk CSV into cost_of_living rows (one per country).

    PA.NUS.PRVT.PLI is a price level with the USA = 100 and is stored as is. PA.NUS.PRVT.PP is
    converted: price_level = 100 * PPP / market exchange rate, the exchange rate being
    PA.NUS.FCRF (local currency per US$) from `exchange_rates`, same country and year.

    Parameters
    ----------
    path : the World Bank CSV (API_PA.NUS.PRVT.PLI_DS2_en_csv_v2_*.csv or the PPP one).
    year : the data year; None keeps the latest year that has values.
    exchange_rates : the PA.NUS.FCRF CSV; required for a PPP file.

    Returns
    -------
    DataFrame with the columns of `COLUMNS`; region blank; source "World Bank <indicator>".

    Examples
    --------
    >>> rows = read_world_bank(Path("tests/fixtures/col/API_PA.NUS.PRVT.PLI_DS2_en_csv_v2.csv"))
    >>> float(rows.loc[rows["country"] == "CH", "price_level"].iloc[0])
    125.756
    """
    path = Path(path)
    values, years, indicator = _read_world_bank_values(path)
    if indicator == WB_PLI:
        chosen = _pick_years(years, {y: bool(values[y].notna().any()) for y in years}, _opt(year))
        level = values[chosen[0]]
    elif indicator == WB_PPP:
        if exchange_rates is None:
            raise CostOfLivingFormatError(
                f"{path.name}: a PPP conversion factor becomes a price level only with the market "
                f"exchange rate; put the World Bank {WB_FX} CSV beside it"
            )
        fx, fx_years, fx_indicator = _read_world_bank_values(Path(exchange_rates))
        if fx_indicator != WB_FX:
            raise CostOfLivingFormatError(f"{Path(exchange_rates).name} is not {WB_FX}")
        common = [y for y in years if y in fx_years]
        fx = fx.reindex(values.index)
        ratio = 100.0 * values[common] / fx[common]
        chosen = _pick_years(common, {y: bool(ratio[y].notna().any()) for y in common}, _opt(year))
        level = ratio[chosen[0]]
    else:
        raise CostOfLivingFormatError(
            f"{path.name}: indicator {indicator} is not a price level; load {WB_PLI} or {WB_PPP}"
        )
    level = level.dropna()
    out = pd.DataFrame(
        {
            "country": level.index,
            "region": None,
            "price_level": level.to_numpy(dtype=float),
            "source": f"World Bank {indicator}",
            "vintage": chosen[0],
        }
    )
    return _finish(out)


def world_bank_indicator(path: str | Path) -> str | None:
    """The indicator code of a World Bank bulk CSV (None if it is not one)."""
    try:
        return _read_world_bank_values(Path(path))[2]
    except (CostOfLivingFormatError, KeyError, IndexError):
        return None


def read_cost_of_living(
    path: str | Path, *, siblings: Iterable[str | Path] = (), year: str | int | None = None
) -> pd.DataFrame:
    """Read any supported cost-of-living file (detected by shape) into cost_of_living rows.

    `siblings` are the other files of the same load: a World Bank PPP file is converted with the
    PA.NUS.FCRF exchange-rate file found among them. An exchange-rate file alone yields no rows.
    """
    path = Path(path)
    kind = detect(path)
    if kind == "bea_rpp":
        return read_bea_rpp(path, year=year)
    if kind == "world_bank":
        indicator = world_bank_indicator(path)
        if indicator == WB_FX:
            return pd.DataFrame(columns=list(COLUMNS))
        fx_file = None
        if indicator == WB_PPP:
            fx_file = next(
                (Path(s) for s in siblings if detect(s) and world_bank_indicator(s) == WB_FX),
                None,
            )
        return read_world_bank(path, year=year, exchange_rates=fx_file)
    raise CostOfLivingFormatError(f"{path.name}: not a BEA RPP or World Bank file")


@register
def convert_cost_of_living_file(path: Path) -> ConvertedFile | None:
    """`signalboard load` hook (etl/sources.py): BEA and World Bank files, recognised by shape.

    A World Bank PPP file is converted with the PA.NUS.FCRF exchange-rate file in the same
    folder; the exchange-rate file itself is not a table of its own (the load lists it as
    skipped).
    """
    path = Path(path)
    kind = detect(path)
    if kind is None:
        return None
    if kind == "world_bank" and world_bank_indicator(path) == WB_FX:
        return None
    siblings = sorted(p for p in path.parent.iterdir() if p.is_file() and p != path)
    frame = read_cost_of_living(path, siblings=siblings)
    sources = ", ".join(sorted(set(frame["source"] + " " + frame["vintage"])))
    return ConvertedFile("cost_of_living", frame, note=f"cost of living from {sources}")

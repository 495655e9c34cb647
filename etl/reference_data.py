"""Bundled reference tables: published price levels and the exchange rates the generator uses.

Price levels (US national average = 100):
- US states: BEA Regional Price Parities, all items, 2023 (SARPP, release of 2024-12-12).
- US metro areas: BEA RPPs, all items, 2023 (MARPP), joined on the CBSA code.
- Other countries: World Bank household price level index (PA.NUS.PRVT.PLI, USA = 100). The exact
  PLI values were not at hand, so they are DERIVED from the published, rounded 2023 PPP conversion
  factors for private consumption (PA.NUS.PRVT.PP) divided by the 2023 average market rate below
  (PLI = PPP / LCU-per-USD * 100). The rounding of the PPP factor (one decimal) makes them accurate
  to a few index points only, so their source says "approximate".

Exchange rates: 2023 annual averages (US dollars per unit), rounded, as commonly reported from the
Federal Reserve H.10 / IRS yearly average tables. They are approximate and held fixed over the
synthetic period; the generator stamps them with the synthetic cut-off date.

Every value here is labelled in the `source` column of cost_of_living.csv, so nothing approximate
passes for a published figure.
"""

from __future__ import annotations

BEA_STATE_SOURCE = "BEA SARPP all items"
BEA_METRO_SOURCE = "BEA MARPP all items"
WB_DERIVED_SOURCE = (
    "approximate: World Bank PA.NUS.PRVT.PP 2023 (rounded) / 2023 average market rate"
)
VINTAGE = "2023"

# (country, region, price_level, source, vintage); region = ISO 3166-2 code or CBSA code.
US_NATIONAL: tuple[str, str, float, str, str] = ("US", "", 100.0, BEA_STATE_SOURCE, VINTAGE)

# BEA SARPP 2023, all items (published; see /work/shared/oracles/cost-of-living.md).
US_STATE_RPP: dict[str, float] = {
    "US-CA": 112.6,
    "US-NJ": 108.9,
    "US-HI": 108.6,
    "US-DC": 110.8,
    "US-AR": 86.5,
    "US-MS": 87.3,
    "US-SD": 88.1,
}

# BEA MARPP 2023, all items, by CBSA code: (name, state region, rpp).
US_METRO_RPP: dict[str, tuple[str, str, float]] = {
    "41860": ("San Francisco-Oakland-Fremont, CA", "US-CA", 117.55),
    "31080": ("Los Angeles-Long Beach-Anaheim, CA", "US-CA", 114.75),
    "41940": ("San Jose-Sunnyvale-Santa Clara, CA", "US-CA", 113.06),
    "42660": ("Seattle-Tacoma-Bellevue, WA", "US-WA", 112.73),
    "35620": ("New York-Newark-Jersey City, NY-NJ", "US-NY", 112.64),
    "33100": ("Miami-Fort Lauderdale-West Palm Beach, FL", "US-FL", 112.09),
    "46520": ("Urban Honolulu, HI", "US-HI", 111.42),
    "41740": ("San Diego-Chula Vista-Carlsbad, CA", "US-CA", 110.74),
    "14460": ("Boston-Cambridge-Newton, MA-NH", "US-MA", 110.39),
    "12060": ("Atlanta-Sandy Springs-Roswell, GA", "US-GA", 100.93),
    "10740": ("Albuquerque, NM", "US-NM", 92.96),
}

# 2023 average US dollars per unit (approximate; see the module docstring).
USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0,
    "CAD": 0.7409,  # 1.3497 CAD per USD
    "GBP": 1.2435,
    "EUR": 1.0813,
    "INR": 0.012111,  # 82.57 INR per USD
    "BRL": 0.20019,  # 4.995 BRL per USD
    "MXN": 0.05631,  # 17.76 MXN per USD
    "PHP": 0.017976,  # 55.63 PHP per USD
}

# Country -> (currency, World Bank PPP 2023 rounded, or None when no price level is bundled).
COUNTRIES: dict[str, tuple[str, float | None]] = {
    "US": ("USD", 1.0),
    "CA": ("CAD", 1.2),
    "GB": ("GBP", 0.7),
    "DE": ("EUR", 0.7),
    "IN": ("INR", 19.5),
    "BR": ("BRL", 2.5),
    "MX": ("MXN", 10.7),
    # The Philippines has no bundled price level: its candidates exercise "missing cost-of-living".
    "PH": ("PHP", None),
}


def derived_pli(country: str) -> float | None:
    """Household price level (USA = 100) = PPP factor / market LCU per USD * 100, one decimal."""
    currency, ppp = COUNTRIES[country]
    if ppp is None:
        return None
    lcu_per_usd = 1.0 / USD_PER_UNIT[currency]
    return round(ppp / lcu_per_usd * 100.0, 1)


def cost_of_living_rows() -> list[tuple[str, str, float, str, str]]:
    """The bundled cost_of_living.csv rows: (country, region, price_level, source, vintage)."""
    rows: list[tuple[str, str, float, str, str]] = [US_NATIONAL]
    rows += [("US", region, rpp, BEA_STATE_SOURCE, VINTAGE) for region, rpp in US_STATE_RPP.items()]
    rows += [
        ("US", cbsa, rpp, BEA_METRO_SOURCE, VINTAGE) for cbsa, (_, _, rpp) in US_METRO_RPP.items()
    ]
    for country in COUNTRIES:
        if country == "US":
            continue
        pli = derived_pli(country)
        if pli is not None:
            rows.append((country, "", pli, WB_DERIVED_SOURCE, VINTAGE))
    return rows

"""The two escapers that keep strings from data as text: Markdown for Streamlit, HTML labels for
plotly. Each hostile string is rendered by a real Markdown parser (CommonMark) or checked against
what plotly draws, and the figure builders are checked to pass data through them."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from dashboard.escape import WORD_JOINER, markdown_text, plotly_text, plotly_values
from dashboard.figures.assessors import drift_figure, severity_figure
from dashboard.figures.fairness import impact_ratio_figure, ll144_figure
from dashboard.figures.funnel import incidence_figure, step_conversion_figure, trend_figure
from dashboard.figures.sql import result_figure
from dashboard.figures.stipends import gap_figure
from tests.page_helpers import shown_text

HOSTILE = [
    "![x](http://127.0.0.1:9/beacon-md)",
    "<img src=http://127.0.0.1:9/beacon-html>",
    "<a href='http://127.0.0.1:9/a'>click</a>",
    "[link](javascript:alert(1))",
    '=HYPERLINK("http://127.0.0.1:9/x","y")',
    "**bold** _it_ ~~gone~~ `code`",
    "# heading",
    "- item",
    "1. item",
    "> quote",
    "| a | b |",
    "$x^2$ and $$y$$",
    ":red[coloured] :small[small] :material/flag: :material_flag: :smile: :+1:",
    "www.example.com http://example.com <http://example.com> HTTPS://x.org WWW.x.org",
    "mail me: someone@example.com mailto:someone@example.com",
    "&lt;b&gt; &amp; &#60;",
    "back\\slash \\*",
    "line one\n\n# line two\r\n- three\tfour",
    "[ref][1]\n\n[1]: http://127.0.0.1:9/ref",
    "plain text, nothing to escape",
    "",
]


def shown_text_keeping_joiners(source: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", source)


def _rendered_text(html_out: str) -> str:
    """The text a browser shows of CommonMark's HTML (tags dropped, entities decoded)."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", html_out)).strip()


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_markdown_text_renders_as_exactly_its_text(value: str) -> None:
    source = markdown_text(value)
    rendered = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(source)
    # One paragraph (or nothing), no element but <p>: no link, image, emphasis, code, heading.
    tags = set(re.findall(r"<\s*([a-zA-Z0-9]+)", rendered))
    assert tags <= {"p"}, (source, rendered)
    flat = re.sub(r"[\r\n\t]+", " ", value)
    assert _rendered_text(rendered).replace(WORD_JOINER, "") == flat.strip()
    assert shown_text(source) == flat


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_markdown_text_leaves_no_streamlit_directive_or_icon(value: str) -> None:
    source = markdown_text(value)
    # Directives (:red[...]) and math need an unescaped ':' or '$'; icons and emoji shortcodes
    # are matched in the text after escapes, so a word joiner must follow every ':' before a word.
    assert not re.search(r"(?<!\\)[:$]", source), source
    # Streamlit's icon (`:material_NAME:`) and emoji (remark-emoji) patterns, on the text that
    # is left once the escapes are resolved.
    text = shown_text_keeping_joiners(source)
    assert not re.search(r":material_\w+:|:[\w-]+:|:\+1:|:-1:", text)
    # GFM literal autolinks (mdast-util-gfm-autolink-literal's patterns), also found after escapes.
    assert not re.search(r"(?i)https?://|www(?=\.)|[-.\w+]+@[-\w]+(?:\.[-\w]+)+", text)


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_plotly_text_leaves_no_tag_and_no_entity(value: str) -> None:
    label = plotly_text(value)
    assert "<" not in label and ">" not in label
    # Every '&' now starts &amp; &lt; or &gt;, which plotly decodes back to the text.
    assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*", label, flags=re.S)
    decoded = label.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert decoded == value


PAYLOAD = "<a href='http://127.0.0.1:9/x'><b>G</b></a>"
SAFE = plotly_text(PAYLOAD)


def _labels(figure) -> list[str]:
    """Every string plotly could draw as a label: trace names, categories, text, titles."""
    out: list[str] = []
    for trace in figure.data:
        out.append(str(trace.name or ""))
        for attribute in ("x", "y", "text"):
            values = getattr(trace, attribute, None)
            if values is not None:
                out.extend(str(v) for v in values if isinstance(v, str))
    layout = figure.layout
    for title in (layout.title.text, layout.xaxis.title.text, layout.yaxis.title.text):
        out.append(str(title or ""))
    return out


def _assert_escaped(figure) -> None:
    labels = _labels(figure)
    assert any(SAFE in label for label in labels), labels
    assert not any("<a" in label or "<b>" in label for label in labels), labels


def test_assessor_figures_escape_grader_ids() -> None:
    graders = pd.DataFrame(
        {
            "grader_kind": ["human", "human"],
            "grader_id": [PAYLOAD, "g2"],
            "severity": [0.5, -0.2],
            "severity_ci_low": [0.1, -0.6],
            "severity_ci_high": [0.9, 0.2],
            "flagged": [True, False],
            "n_scored": [20, 30],
            "raw_mean": [3.0, 3.5],
            "fair_mean": [3.1, 3.4],
        }
    )
    _assert_escaped(severity_figure(graders, threshold=0.3))
    # A flagged grader (own trace, named) and an unflagged one (the grey trace, in its text).
    for flagged in (True, False):
        drift = pd.DataFrame(
            {
                "grader_id": [PAYLOAD, "g2"],
                "month": ["2025-01", "2025-01"],
                "severity": [0.6, 0.1],
                "flagged": [flagged, False],
            }
        )
        figure = drift_figure(drift, threshold=0.3)
        _assert_escaped(figure)
        assert all(PAYLOAD not in str(trace.hovertemplate) for trace in figure.data)


def test_fairness_and_stipend_figures_escape_groups_and_titles() -> None:
    table = pd.DataFrame(
        {
            "group": [PAYLOAD, "B"],
            "status": ["reference", "no_evidence"],
            "impact_ratio": [1.0, 0.9],
            "ir_ci_low": [1.0, 0.7],
            "ir_ci_high": [1.0, 1.1],
        }
    )
    figure = impact_ratio_figure(table, title=PAYLOAD)
    _assert_escaped(figure)
    assert figure.layout.title.text == SAFE
    ll144 = pd.DataFrame({"category": [PAYLOAD, "B"], "impact_ratio": [1.0, 0.5]})
    figure = ll144_figure(ll144, title=PAYLOAD)
    _assert_escaped(figure)
    assert figure.layout.title.text == SAFE
    gaps = pd.DataFrame(
        {
            "group": ["A", PAYLOAD],
            "method": ["reference", "ols"],
            "reference_group": [PAYLOAD, PAYLOAD],
            **{
                column: [None, 1.0]
                for column in (
                    "raw_gap_pct_real",
                    "raw_gap_pct_real_ci_low",
                    "raw_gap_pct_real_ci_high",
                    "adjusted_gap_pct",
                    "adjusted_ci_low",
                    "adjusted_ci_high",
                    "adjusted_gap_pct_with_location",
                    "adjusted_ci_low_with_location",
                    "adjusted_ci_high_with_location",
                )
            },
        }
    )
    figure = gap_figure(gaps, title=PAYLOAD)
    _assert_escaped(figure)
    assert SAFE in figure.layout.xaxis.title.text


def test_funnel_and_time_to_hire_figures_escape_segments_and_cohorts() -> None:
    funnel = pd.DataFrame(
        {
            "segment": [PAYLOAD] * 2,
            "stage": ["applied", "selected"],
            "step_conversion": [1.0, 0.5],
        }
    )
    _assert_escaped(step_conversion_figure(funnel))
    trends = pd.DataFrame(
        {
            "track": ["micro_internship"],
            "rate": [0.4],
            "stage": ["selected"],
            "stage_index": [1],
            "cohort_start": [pd.Timestamp("2025-01-06")],
            "cohort_id": [PAYLOAD],
            "expected_rate": [0.6],
        }
    )
    monthly = pd.DataFrame(
        {
            "track": ["micro_internship"],
            "stage": ["selected"],
            "stage_index": [1],
            "month": [pd.Timestamp("2025-01-01")],
            "rate": [0.4],
            "cohorts": [1],
            "n": [10],
            "flagged_cohorts": [1],
            "ci_low": [0.2],
            "ci_high": [0.6],
            "complete": [True],
        }
    )
    figure = trend_figure(monthly, track="micro_internship", flagged=trends, cohort=trends)
    _assert_escaped(figure)
    assert figure.data[-1].name == f"cohort {SAFE}"
    curves = pd.DataFrame(
        {
            "group": [PAYLOAD] * 2,
            "days": [0.0, 5.0],
            "cumulative_incidence": [0.0, 0.2],
            "ci_low": [0.0, 0.1],
            "ci_high": [0.0, 0.3],
        }
    )
    figure = incidence_figure(curves)
    _assert_escaped(figure)
    # The group reaches the hover box through the escaped trace name, never as template text.
    assert all(PAYLOAD not in str(trace.hovertemplate) for trace in figure.data)


def test_sql_result_figure_escapes_values_and_column_names() -> None:
    frame = pd.DataFrame({PAYLOAD: [PAYLOAD, "b"], "n": [1, 2], "g": [PAYLOAD, "c"]})
    figure = result_figure(frame, x=PAYLOAD, y="n", color="g")
    _assert_escaped(figure)
    assert all(PAYLOAD not in str(trace.hovertemplate) for trace in figure.data)
    assert sorted(figure.data[0].y.tolist() + figure.data[1].y.tolist()) == [1, 2]


def test_plotly_values_keeps_numbers_and_missing() -> None:
    out = plotly_values(pd.Series(["<b>", 1.5, None], dtype=object))
    assert out.tolist() == ["&lt;b&gt;", 1.5, None]


def test_docstring_examples() -> None:
    import doctest

    import dashboard.escape

    result = doctest.testmod(dashboard.escape)
    assert result.attempted > 0 and result.failed == 0

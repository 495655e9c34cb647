"""Strings from data as text: one escaper for Streamlit's Markdown, one for plotly's labels.

Every string that comes from the warehouse (a grader or cohort id, a role, a source, a group
label, a query result, an error message quoting SQL) goes through one of these before it reaches
a Markdown element (st.markdown, st.caption, st.warning/info/error/success, metric, tab and
expander labels, `help=` tooltips) or a plotly figure (trace names, category tick labels, hover
text, titles, annotations). Tables (st.dataframe) and st.text draw text as it is and need neither.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

# CommonMark lets a backslash escape any ASCII punctuation character, which then is literal text
# (spec 0.31, section 2.4). Escaping all of it covers emphasis, code, links and images (`[`, `!`),
# raw HTML (`<`), entities (`&`), headings, lists, tables (`|`), GFM autolinks (`www.`, `://`),
# Streamlit's directives (`:red[...]`, `:small[...]`) and KaTeX math (`$`).
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Some patterns are matched in the text after escapes are resolved, so a backslash does not stop
# them: Streamlit's `:material_NAME:` icons, remark-emoji's shortcodes (`:[\w-]+:`, `:+1:`) and
# GFM's literal autolinks (mdast-util-gfm-autolink-literal: `https?://`, `www.`, `a@b.c`). A
# WORD JOINER (U+2060, invisible, zero width) after the colon, between `www` and the dot and after
# the `@` breaks each of them.
_TEXT_PATTERNS = re.compile(r"(?<=:)(?=[\w+\-/])|(?<=www)(?=\.)|(?<=@)(?=[\w\-])", re.IGNORECASE)
WORD_JOINER = "\u2060"
# A line break in a label would start a new Markdown block (a list, a heading, code).
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\u2028\u2029]+")


def markdown_text(value: Any) -> str:
    r"""`value` as Markdown source that Streamlit renders as exactly its text, nothing more.

    No markup, link (written or literal: `www.x.org`, `http://x`, `a@b.org`), image, HTML, icon
    or math survives; line breaks become spaces.

    Examples
    --------
    >>> markdown_text("![x](b.png)")
    '\\!\\[x\\]\\(b\\.png\\)'
    >>> markdown_text("$5 *and* <b>")
    '\\$5 \\*and\\* \\<b\\>'
    >>> markdown_text(":material_flag:") == "\\:\u2060material\\_flag\\:"
    True
    """
    text = _LINE_BREAKS.sub(" ", str(value))
    text = _TEXT_PATTERNS.sub(WORD_JOINER, text)
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def plotly_text(value: Any) -> str:
    """`value` as a plotly label that renders as exactly its text.

    Plotly draws a subset of HTML in every label (`<a href>`, `<b>`, `<br>`, `<span style>`,
    ...) and decodes `&amp;`, `&lt;`, `&gt;` and numeric entities; escaping `&`, `<` and `>` keeps
    both literal. Quotes need nothing: plotly decodes no `&quot;` and they open no tag outside one.

    Examples
    --------
    >>> plotly_text("<a href='http://h'>x</a> &amp;")
    "&lt;a href='http://h'&gt;x&lt;/a&gt; &amp;amp;"
    """
    return html.escape(str(value), quote=False)


def plotly_values(values: pd.Series) -> pd.Series:
    """`plotly_text` of each string in `values` (other values, such as numbers and missing, as
    they are), for categories and hover text drawn from a column.

    Examples
    --------
    >>> plotly_values(pd.Series(["<b>x</b>", 3, None])).tolist()
    ['&lt;b&gt;x&lt;/b&gt;', 3, None]
    """
    return values.map(lambda v: plotly_text(v) if isinstance(v, str) else v)

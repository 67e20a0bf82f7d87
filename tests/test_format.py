"""ui.format: `plain` makes any text render literally in Markdown, checked against a CommonMark renderer
(markdown-it-py, with GFM tables and strikethrough), plus the number and day phrases the pages use."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from ui.format import WJ, days_phrase, fmt, pct, plain, plural

MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
PLANTED = ["![](http://host/x.png)", "<img src=x onerror=alert(1)>", "[link](javascript:alert(1))", "**bold**",
           "<https://host/x>", "`code`", "~~gone~~", "# heading", "- item", "1. first", "> quote", "a | b\n--|--",
           "$x^2$", "&lt;b&gt;", "_em_ and *em*", "line one\nline two", "x\n===", "    indented", "\\*not\\*"]


def rendered_text(markdown: str) -> str:
    """The text a reader sees, or an AssertionError if anything but paragraphs and line breaks came out."""
    out = MD.render(markdown)
    tags = set(re.findall(r"</?([a-z0-9]+)", out))
    assert tags <= {"p", "br"}, (markdown, out)
    text = re.sub(r"<br />\n?", "\n", out).replace("<p>", "").replace("</p>\n", "\n").replace("</p>", "")
    return html.unescape(text).replace(WJ, "").strip("\n")  # the word joiner is invisible


@pytest.mark.parametrize("text", PLANTED)
def test_planted_syntax_renders_as_written(text):
    assert rendered_text(plain(text)) == text.strip()


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1 _*`[]()<>!#|~$&@:-+=.\\\n/hw")), max_size=40))
def test_any_text_renders_as_written(text):
    # Leading/trailing spaces and blank lines are not content a reader can see: compare line by line.
    want = [line.strip() for line in text.strip().split("\n") if line.strip()]
    got = [line.strip() for line in rendered_text(plain(text)).split("\n") if line.strip()]
    assert got == want, (text, plain(text))


# Found by Streamlit after parsing (GFM autolinks, emoji and icon shortcodes), so a backslash cannot stop them.
AFTER_PARSE = re.compile(r"(?i)https?://|www\.|@[a-z0-9]|:[a-z_+/]")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("htpsw.:/@a_+m ")), max_size=30))
def test_no_bare_link_or_shortcode_survives(text):
    assert not AFTER_PARSE.search(plain(text)), plain(text)


def test_ordinary_text_stays_readable():
    assert plain("RISK-04 and COMM-05: add dated evidence (na_reason).") == \
        "RISK-04 and COMM-05: add dated evidence (na_reason)."
    assert plain("Corporate & Markets") == "Corporate \\& Markets"
    assert plain(None) == ""


def test_numbers_and_phrases():
    assert (fmt(2.345), fmt(None), fmt(float("nan")), fmt(0.5, 1, sign=True)) == ("2.35", "—", "—", "+0.5")
    assert (plural(1, "unit"), plural(3, "unit"), pct(1, 4), pct(1, 0)) == ("1 unit", "3 units", "25%", "—")
    assert [days_phrase(d) for d in (None, -3, 0, 5)] == ["no date", "3 days overdue", "due today", "in 5 days"]

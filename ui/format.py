"""Text for the pages: numbers, counts, day phrases, and `plain`, which makes user text inert in Markdown."""

from __future__ import annotations

import math
import re

# Characters that start Markdown (emphasis, code, links and images, tables, strikethrough), LaTeX ($) or HTML
# and entities (<, >, &) wherever they stand. All are ASCII punctuation, which CommonMark lets a backslash
# turn into the literal character. With "[" escaped, "!", "(" and Streamlit's :color[...] are inert.
_INLINE = re.compile(r"([\\`*\[\]<>|~$&])")
# Bare links (http://, www., a@b.c) and shortcodes (:smile:, :material/home:) are found in the text after
# parsing, where a backslash no longer counts (checked in Chromium): an invisible WORD JOINER breaks them.
WJ = "\u2060"
_AUTO = re.compile(r"(:)(?=[A-Za-z_+/])|(@)|(?i:\b(www)(?=\.))")
# "_" only starts emphasis at a word boundary; inside a word (na_reason) it is literal and stays readable.
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# Block markers only mean something at the start of a line: lists, setext rules, headings, ordered lists.
_LINE_START = re.compile(r"^()([-+=#])", re.MULTILINE)
_ORDERED = re.compile(r"^(\d+)([.)])", re.MULTILINE)


def plain(text: object) -> str:
    """`text` as Markdown that renders exactly as written: no link, image, HTML, emphasis or directive.

    Use it for every piece of user-supplied text (names, comments, evidence, reasons, questionnaire text,
    error messages that quote input) placed inside st.markdown, st.caption, alerts, metric values, tab,
    expander and radio labels. Plain-text elements (st.text, st.code, dataframes) need nothing.
    """
    if text is None:
        return ""
    # Leading blanks would make an indented code block; a paragraph drops them anyway.
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    s = _INLINE.sub(r"\\\1", "\n".join(line.lstrip(" \t") for line in lines))
    s = _AUTO.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + WJ, s)
    s = _UNDERSCORE.sub(r"\\_", s)
    s = _LINE_START.sub(r"\1\\\2", s)
    s = _ORDERED.sub(r"\1\\\2", s)
    return s.replace("\n", "  \n")  # keep the writer's line breaks


def fmt(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def pct(part: int | float, whole: int | float) -> str:
    return "—" if not whole else f"{100 * part / whole:.0f}%"


def days_phrase(days: int | None) -> str:
    if days is None:
        return "no date"
    if days < 0:
        return f"{-days} days overdue"
    if days == 0:
        return "due today"
    return f"in {days} days"

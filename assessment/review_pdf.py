"""The management-review pack as a PDF: reportlab platypus pages with vector charts (reportlab.graphics).

Everything renders offline from the Python packages alone: the fonts are the Bitstream Vera TrueType files that
ship inside reportlab, and the charts are drawn as PDF vector graphics (no browser, no image service). User
text (unit, division, service and incident names) is always escaped before a Paragraph sees it, so it can never
act as reportlab markup; plain table cells are drawn as literal strings.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

import polars as pl
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from . import __version__, durations
from .model import Actor
from .recovery import STATUSES
from .reports import Filters
from .review_pack import TOP_N, WINDOW_MONTHS, ReviewPack, gather, pack_filename
from .storage import Database

FONT, BOLD = "ItscmVera", "ItscmVera-Bold"
NAVY, GREY, LIGHT = colors.HexColor("#1F4E79"), colors.HexColor("#6B7280"), colors.HexColor("#EEF2F7")
RED, AMBER, GREEN = colors.HexColor("#C0392B"), colors.HexColor("#D68910"), colors.HexColor("#1E8449")
SERIES = [NAVY, colors.HexColor("#9CA3AF"), RED, AMBER, GREEN, colors.HexColor("#7D3C98")]
STATUS_COLOURS = {"slower than RTO": RED, "never tested": AMBER, "no RTO": colors.HexColor("#9CA3AF"),
                  "within RTO": GREEN}
WIDTH = A4[0] - 3.6 * cm  # the frame's width

# The ISO 22301 9.3.2 review inputs each section answers (paraphrased).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Maturity against target by division", "continuity performance and effectiveness: monitoring and "
                                            "measurement results and their trends"),
    ("Top gaps", "opportunities for continual improvement; the need for changes"),
    ("Demonstrated against required recovery", "information from the BIA (recovery objectives) and the "
                                               "evaluation of continuity capabilities"),
    ("Exercises done against planned", "results of the exercise programme"),
    ("Incidents and post-mortems", "lessons learned and actions from disruptions and near-misses"),
    ("Actions: opened, closed, overdue", "status of actions from previous reviews; corrective actions"),
    ("Review deadlines missed", "nonconformities: documents and reviews not kept at planned intervals"),
    ("Decisions required", "what the review must decide: improvements, changes and resources (9.3.3)"),
)


def _fonts() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
        pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12, alignment=TA_LEFT)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5, textColor=GREY),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9),
        "head": ParagraphStyle("head", parent=base, fontName=BOLD, fontSize=7.5, leading=9, textColor=colors.white),
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=20, leading=24, textColor=NAVY),
        "h1": ParagraphStyle("h1", parent=base, fontName=BOLD, fontSize=14, leading=18, textColor=NAVY,
                             spaceAfter=2),
        "h2": ParagraphStyle("h2", parent=base, fontName=BOLD, fontSize=10.5, leading=14, spaceBefore=8,
                             spaceAfter=3),
        "tile_value": ParagraphStyle("tv", parent=base, fontName=BOLD, fontSize=17, leading=20),
        "tile_label": ParagraphStyle("tl", parent=base, fontName=BOLD, fontSize=8, leading=10),
        "tile_note": ParagraphStyle("tn", parent=base, fontSize=7, leading=9, textColor=GREY),
    }


def _p(text: object, style: ParagraphStyle, colour: colors.Color | None = None) -> Paragraph:
    """A paragraph of literal text: escaped, so nothing in it is read as markup."""
    if colour is not None:
        style = ParagraphStyle(style.name + "-c", parent=style, textColor=colour)
    return Paragraph(escape("" if text is None else str(text)), style)


def _num(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None or value != value:
        return "—"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _short(text: object, n: int = 30) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= n else s[: n - 1] + "…"


# ---- tables ---------------------------------------------------------------------------------------------------

def _table(header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float],
           st: dict[str, ParagraphStyle], wrap: Sequence[int] = ()) -> Table:
    """A striped table; the columns in `wrap` become escaped paragraphs (they wrap), the others literal strings."""
    body = [[_p(v, st["cell"]) if i in wrap else ("" if v is None else str(v)) for i, v in enumerate(r)]
            for r in rows]
    head = [_p(h, st["head"]) for h in header]
    t = Table([head, *body], colWidths=list(widths), repeatRows=1)
    style = [("FONT", (0, 0), (-1, 0), BOLD, 7.5), ("FONT", (0, 1), (-1, -1), FONT, 7.5),
             ("TEXTCOLOR", (0, 0), (-1, 0), colors.white), ("BACKGROUND", (0, 0), (-1, 0), NAVY),
             ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#D1D5DB")),
             ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
    style += [("BACKGROUND", (0, r), (-1, r), LIGHT) for r in range(2, len(rows) + 1, 2)]
    t.setStyle(TableStyle(style))
    return t


def _none(st: dict[str, ParagraphStyle], text: str) -> Paragraph:
    return _p(text, st["small"])


# ---- charts ---------------------------------------------------------------------------------------------------

def _legend(d: Drawing, x: float, y: float, items: list[tuple[colors.Color, str]]) -> None:
    lg = Legend()
    lg.x, lg.y, lg.alignment, lg.columnMaximum = x, y, "right", 1
    lg.fontName, lg.fontSize, lg.dx, lg.dy, lg.deltax = FONT, 7, 7, 7, 10
    lg.colorNamePairs = items
    d.add(lg)


def hbar(labels: list[str], series: list[list[float]], names: list[str], palette: list[colors.Color], *,
         stacked: bool = False, value_max: float | None = None, step: float | None = None) -> Drawing:
    """Horizontal bars, one row per label (top row first), grouped or stacked series, with a legend."""
    rows = max(len(labels), 1)
    height = 28 + rows * (13 if len(series) == 1 or stacked else 20)
    d = Drawing(WIDTH, height + 16)
    c = HorizontalBarChart()
    c.x, c.y, c.width, c.height = 150, 18, WIDTH - 170, height - 22
    # reportlab draws the first category at the bottom; reverse so the list reads top-down.
    c.data = [list(reversed(s)) or [0] for s in series]
    c.categoryAxis.categoryNames = list(reversed([_short(x, 34) for x in labels])) or [""]
    c.categoryAxis.labels.fontName, c.categoryAxis.labels.fontSize = FONT, 7
    c.categoryAxis.labels.boxAnchor, c.categoryAxis.labels.dx = "e", -4
    c.valueAxis.labels.fontName, c.valueAxis.labels.fontSize = FONT, 7
    c.valueAxis.valueMin = 0
    top = max([v for s in series for v in s] + [1]) if not stacked else max(
        [sum(vals) for vals in zip(*series)] + [1])
    c.valueAxis.valueMax = value_max or top * 1.1
    if step:
        c.valueAxis.valueStep = step
    c.valueAxis.visibleGrid, c.valueAxis.gridStrokeColor = True, colors.HexColor("#E5E7EB")
    c.barSpacing, c.groupSpacing = 1, 4
    if stacked:
        c.categoryAxis.style = "stacked"
    for i, colour in enumerate(palette):
        c.bars[i].fillColor, c.bars[i].strokeColor = colour, None
    d.add(c)
    _legend(d, c.x, height + 10, list(zip(palette, names)))
    return d


def vbar(labels: list[str], series: list[list[float]], names: list[str], palette: list[colors.Color]) -> Drawing:
    """Vertical grouped bars with a legend (a few categories)."""
    d = Drawing(WIDTH, 170)
    c = VerticalBarChart()
    c.x, c.y, c.width, c.height = 40, 30, WIDTH - 60, 115
    c.data = [s or [0] for s in series]
    c.categoryAxis.categoryNames = [_short(x, 22) for x in labels] or [""]
    c.categoryAxis.labels.fontName, c.categoryAxis.labels.fontSize = FONT, 7
    c.valueAxis.labels.fontName, c.valueAxis.labels.fontSize = FONT, 7
    c.valueAxis.valueMin = 0
    c.valueAxis.valueMax = max([v for s in series for v in s] + [1]) * 1.15
    c.valueAxis.visibleGrid, c.valueAxis.gridStrokeColor = True, colors.HexColor("#E5E7EB")
    for i, colour in enumerate(palette):
        c.bars[i].fillColor, c.bars[i].strokeColor = colour, None
    d.add(c)
    _legend(d, c.x, 162, list(zip(palette, names)))
    return d


def trend_chart(trends: pl.DataFrame) -> Drawing:
    """Score per cycle (solid) against target (dashed) for the organisation, the worst divisions as thin lines."""
    d = Drawing(WIDTH, 180)
    cycles = trends.select("campaign_id", "opens_on").unique().sort("opens_on")["campaign_id"].to_list()
    if not cycles:
        d.add(String(10, 100, "No scored cycle yet.", fontName=FONT, fontSize=8))
        return d
    index = {c: i for i, c in enumerate(cycles)}
    lines, names, palette, dashed = [], [], [], []
    org = trends.filter(pl.col("series") == "Organisation")
    for col, name, colour, dash in (("score", "Organisation score", NAVY, False),
                                    ("target", "Organisation target", GREY, True)):
        lines.append([(index[c], v) for c, v in org.select("campaign_id", col).iter_rows() if v is not None])
        names.append(name)
        palette.append(colour)
        dashed.append(dash)
    for i, s in enumerate(trends.filter(pl.col("series") != "Organisation")["series"].unique(maintain_order=True)):
        rows = trends.filter(pl.col("series") == s)
        lines.append([(index[c], v) for c, v in rows.select("campaign_id", "score").iter_rows() if v is not None])
        names.append(_short(s, 26))
        palette.append(SERIES[2 + i % (len(SERIES) - 2)])
        dashed.append(False)
    keep = [i for i, points in enumerate(lines) if points]
    p = LinePlot()
    p.x, p.y, p.width, p.height = 40, 52, WIDTH - 60, 120
    p.data = [lines[i] for i in keep]
    p.xValueAxis.valueMin, p.xValueAxis.valueMax = -0.3, max(len(cycles) - 0.7, 0.7)
    p.xValueAxis.valueSteps = list(range(len(cycles)))
    p.xValueAxis.labelTextFormat = lambda v: cycles[int(round(v))] if 0 <= round(v) < len(cycles) else ""
    p.yValueAxis.valueMin, p.yValueAxis.valueMax, p.yValueAxis.valueStep = 0, 5, 1
    p.yValueAxis.visibleGrid, p.yValueAxis.gridStrokeColor = True, colors.HexColor("#E5E7EB")
    for axis in (p.xValueAxis, p.yValueAxis):
        axis.labels.fontName, axis.labels.fontSize = FONT, 7
    for j, i in enumerate(keep):
        p.lines[j].strokeColor = palette[i]
        p.lines[j].strokeWidth = 2 if i < 2 else 1
        p.lines[j].symbol = makeMarker("Circle", size=3, fillColor=palette[i], strokeColor=palette[i])
        if dashed[i]:
            p.lines[j].strokeDashArray = [3, 2]
    d.add(p)
    lg_items = [(palette[i], names[i]) for i in keep]
    lg = Legend()
    lg.x, lg.y, lg.alignment, lg.columnMaximum = 40, 22, "right", 2
    lg.fontName, lg.fontSize, lg.dx, lg.dy, lg.deltax, lg.deltay = FONT, 7, 7, 7, 10, 10
    lg.colorNamePairs = lg_items
    d.add(lg)
    return d


# ---- pages ----------------------------------------------------------------------------------------------------

def _tile(label: str, value: str, note: str, bad: bool | None, st: dict[str, ParagraphStyle]) -> Table:
    colour = None if bad is None else (RED if bad else GREEN)
    t = Table([[_p(value, st["tile_value"], colour)], [_p(label, st["tile_label"])], [_p(note, st["tile_note"])]],
              colWidths=[WIDTH / 3 - 8], rowHeights=[22, 24, 22])
    t.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor("#CBD5E1")),
                           ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#F8FAFC")),
                           ("LEFTPADDING", (0, 0), (-1, -1), 6), ("TOPPADDING", (0, 0), (-1, -1), 3),
                           ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return t


def headline_page(p: ReviewPack, st: dict[str, ParagraphStyle]) -> list:
    h, camp = p.headline, p.campaign
    change = (f"{h.score - h.previous_score:+.2f} since {h.previous_campaign}"
              if h.score is not None and h.previous_score is not None else "no previous cycle to compare")
    plan = ("the cycle's questionnaire sets no test schedule" if h.exercises_planned is None
            else "services tested within their tier's interval")
    tiles = [
        ("Organisation score (0-5)", f"{_num(h.score)} / {_num(h.target)}", f"score / target; {change}",
         None if h.score is None or h.target is None else h.score < h.target),
        ("Units at target", f"{h.units_at_target} of {h.units_scored}", "scored units meeting their tier target",
         h.units_at_target < h.units_scored),
        ("Divisions below target", f"{h.divisions_below_target} of {p.divisions_total}", "by the division roll-up",
         h.divisions_below_target > 0),
        ("Assessments submitted", f"{h.submitted} / {h.expected}", f"units in {camp['campaign_id']}",
         h.submitted < h.expected),
        ("Tier-1 services without a passing test", f"{h.untested_top_tier} of {h.top_tier_services}",
         f"in the {WINDOW_MONTHS} months to {p.as_of}", h.untested_top_tier > 0),
        ("Services slower than their RTO", f"{h.slower_than_rto} of {h.services}", "in their latest measured test",
         h.slower_than_rto > 0),
        ("Service tests done / planned",
         "—" if h.exercises_planned is None else f"{h.exercises_done} / {h.exercises_planned}", plan,
         None if h.exercises_planned is None else (h.exercises_done or 0) < h.exercises_planned),
        ("Exercises held", str(h.exercises_held), f"in the {WINDOW_MONTHS} months to {p.as_of}", None),
        ("Incidents", str(h.incidents), f"{h.incidents_over_rto} over a service's RTO", h.incidents_over_rto > 0),
        ("Post-mortems overdue", str(h.postmortems_overdue), "incidents whose post-mortem date has passed",
         h.postmortems_overdue > 0),
        ("Review deadlines missed", str(h.deadlines_missed), f"incl. {h.overdue_plan_reviews} plan review(s) overdue",
         h.deadlines_missed > 0),
        ("Actions overdue", "—" if h.actions_overdue is None else str(h.actions_overdue),
         "no action register in this version" if h.actions_overdue is None else "improvement actions past due",
         None if h.actions_overdue is None else h.actions_overdue > 0),
    ]
    cells = [_tile(label, value, note, bad, st) for label, value, note, bad in tiles]
    grid = Table([cells[i:i + 3] for i in range(0, len(cells), 3)], colWidths=[WIDTH / 3] * 3)
    grid.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
    contents = [(str(i + 2), title, what) for i, (title, what) in enumerate(SECTIONS)]
    return [
        _p("Management review pack", st["title"]),
        _p(f"{camp['name']} ({camp['campaign_id']}, {camp['status']}) · {p.scope} · figures as of {p.as_of}",
           st["body"]),
        _p(f"Generated {p.generated_at:%Y-%m-%d %H:%M} UTC by {p.generated_by} · itscm {__version__} · "
           f"questionnaire {p.questionnaire}", st["small"]),
        Spacer(1, 10), _p("Headline figures", st["h1"]), grid,
        _p(f"Decisions required: {len(p.decisions)} (section 9).", st["h2"]),
        _p("Sections, laid out on the inputs ISO 22301 9.3.2 asks a management review to consider", st["h2"]),
        _table(["§", "Section", "Review input"], contents, [18, 170, WIDTH - 188], st, wrap=(2,)),
    ]


def _section(n: int, st: dict[str, ParagraphStyle]) -> list:
    title, what = SECTIONS[n - 2]
    return [PageBreak(), _p(f"{n}. {title}", st["h1"]), _p(f"ISO 22301 9.3.2 input: {what}.", st["small"]),
            Spacer(1, 6)]


def _more(total: int, shown: int, what: str, st: dict[str, ParagraphStyle]) -> list:
    return [_p(f"… and {total - shown} more {what}, not shown.", st["small"])] if total > shown else []


def maturity_page(p: ReviewPack, st) -> list:
    out = _section(2, st)
    d = p.divisions
    if d.height == 0:
        return [*out, _none(st, "No division in this scope.")]
    out += [_p("Score against target per division, worst gap first", st["h2"]),
            hbar(d["division"].to_list(), [d["score"].fill_null(0).to_list(), d["target"].fill_null(0).to_list()],
                 ["Score", "Target"], [NAVY, colors.HexColor("#CBD5E1")], value_max=5, step=1)]
    rows = [(r["division"], r["units"], r["units_scored"], _num(r["score"]), _num(r["target"]),
             _num(r["gap"], sign=True), r["units_at_target"],
             _num(None if r["score"] is None or r["previous_score"] is None else r["score"] - r["previous_score"],
                  sign=True)) for r in d.iter_rows(named=True)]
    out += [Spacer(1, 4), _table(["Division", "Units", "Scored", "Score", "Target", "Gap", "At target",
                                  "Change"], rows,
                                 [150, 36, 46, 40, 40, 40, 48, WIDTH - 400], st, wrap=(0,)),
            *_more(p.divisions_total, d.height, "division(s), all with a smaller gap", st)]
    out += [KeepTogether([_p("Trend across cycles: the organisation and the divisions furthest below target",
                             st["h2"]), trend_chart(p.trends)])]
    return out


def gaps_page(p: ReviewPack, st) -> list:
    out = _section(3, st)
    g = p.gaps
    if g.height == 0:
        return [*out, _none(st, "No gap to target in this cycle's scored assessments.")]
    labels = [f"{r['unit']} · {r['question_id']}" for r in g.iter_rows(named=True)]
    out += [_p(f"The {g.height} largest gaps by priority (gap × question weight × tier factor)", st["h2"]),
            hbar(labels, [g["priority"].to_list()], ["Priority"], [RED]), Spacer(1, 4)]
    rows = [(r["unit"], r["division"], r["tier"], r["question_id"], _short(r["question"], 120), _num(r["score"]),
             _num(r["target"], 1), _num(r["priority"], 1)) for r in g.iter_rows(named=True)]
    out.append(_table(["Unit", "Division", "Tier", "Question", "Text", "Score", "Target", "Priority"], rows,
                      [72, 66, 22, 42, WIDTH - 310, 34, 34, 40], st, wrap=(0, 1, 4)))
    return out


def recovery_page(p: ReviewPack, st) -> list:
    out = _section(4, st)
    h, s = p.headline, p.recovery_status
    if h.services == 0:
        return [*out, _none(st, "No service is recorded in the service register for this scope.")]
    out += [_p(f"{h.services} service(s): their latest measured recovery against their RTO, per division",
               st["h2"]),
            hbar(s["division"].to_list(), [s[x].to_list() for x in STATUSES], list(STATUSES),
                 [STATUS_COLOURS[x] for x in STATUSES], stacked=True)]
    r = p.recovery_divisions
    rows = [(x["division"], x["services"], x["top_tier_services"], x["untested_top_tier"], x["slower_than_rto"],
             x["without_rto"], x["incidents_over_rto"], x["inversions"]) for x in r.iter_rows(named=True)]
    out += [_table(["Division", "Services", "Tier 1", "Tier 1 untested", "Slower than RTO", "No RTO",
                    "Incidents over RTO", "Inversions"], rows, [WIDTH - 362, 50, 40, 55, 60, 45, 60, 52], st,
                   wrap=(0,))]
    w = p.recovery_worst
    out.append(_p(f"Services furthest from their objective (top {TOP_N})", st["h2"]))
    if w.height == 0:
        out.append(_none(st, "Every service with an RTO met it in its latest measured test."))
    else:
        rows = [(x["service_id"], x["service"], x["unit"], x["recovery_tier"], durations.format(x["rto_minutes"]),
                 durations.format(x["demonstrated_minutes"]) or "—",
                 x["demonstrated_on"] or "—", x["status"]) for x in w.iter_rows(named=True)]
        out.append(_table(["Service", "Name", "Unit", "Tier", "RTO", "Demonstrated", "Tested on", "Status"], rows,
                          [60, WIDTH - 392, 80, 30, 44, 68, 56, 54], st, wrap=(1, 2)))
    return out


def exercises_page(p: ReviewPack, st) -> list:
    out = _section(5, st)
    plan = p.exercise_plan
    if plan.height:
        out += [_p("Service tests the schedule plans (each recovery tier's test frequency) against those done "
                   "within the interval, per division", st["h2"]),
                hbar(plan["division"].to_list(), [plan["planned"].to_list(), plan["done"].to_list()],
                     ["Planned", "Done in time"], [colors.HexColor("#CBD5E1"), GREEN]),
                _table(["Division", "Planned", "Done in time", "Overdue", "Never tested"],
                       plan.select("division", "planned", "done", "overdue", "never").rows(),
                       [WIDTH - 240, 60, 60, 60, 60], st, wrap=(0,))]
    else:
        out.append(_none(st, "The questionnaire of this cycle sets no test schedule per recovery tier, so no "
                             "exercise is planned by rule; the exercises held are listed below."))
    t = p.exercise_types
    out += [_p(f"Exercises held in the {WINDOW_MONTHS} months from {p.since} to {p.as_of}, by type", st["h2"]),
            vbar(t["type"].to_list(), [t["held"].to_list(), t["objectives met"].to_list()],
                 ["Held", "Objectives met"], [NAVY, GREEN]),
            _table(["Type", "Held", "Objectives met", "Service results", "Passed (within RTO and RPO)"],
                   t.select("type", "held", "objectives met", "results", "passed").rows(),
                   [WIDTH - 280, 50, 70, 70, 90], st)]
    return out


def incidents_page(p: ReviewPack, st) -> list:
    out = _section(6, st)
    h = p.headline
    if h.incidents == 0:
        return [*out, _none(st, f"No incident recorded between {p.since} and {p.as_of}.")]
    counts = dict(p.incident_status.iter_rows())
    order = ["done", "due", "overdue", "not scheduled"]
    out += [_p(f"{h.incidents} incident(s) from {p.since} to {p.as_of}, {h.incidents_over_rto} over a service's "
               "RTO: where their post-mortems stand", st["h2"]),
            vbar(order, [[int(counts.get(k, 0)) for k in order]], ["Incidents"], [NAVY]),
            _p(f"Incidents, those over RTO first (top {TOP_N})", st["h2"])]
    rows = [(x["incident_id"], x["title"], x["severity"], f"{x['started_at']:%Y-%m-%d}", x["services"],
             "yes" if x["over_rto"] else "no", x["postmortem_status"]) for x in p.incident_list.iter_rows(named=True)]
    out.append(_table(["Incident", "Title", "Severity", "Started", "Services", "Over RTO", "Post-mortem"], rows,
                      [56, WIDTH - 346, 50, 56, 90, 44, 50], st, wrap=(1, 4)))
    return out


def actions_page(p: ReviewPack, st) -> list:
    out = _section(7, st)
    a = p.actions
    if a is None:
        return [*out, _none(st, "This version has no improvement-action register, so no action figures can be "
                                "shown. Record the actions this review decides in its minutes.")]
    out += [_p(f"From {p.since} to {p.as_of}: {a.opened} opened, {a.closed} closed; {a.open} open now, "
               f"{a.overdue} of them overdue", st["h2"]),
            vbar(["Opened", "Closed", "Open", "Overdue"], [[a.opened, a.closed, a.open, a.overdue]], ["Actions"],
                 [NAVY])]
    if a.by_division.height:
        out += [_p("By division", st["h2"]),
                _table(["Division", "Open", "Overdue", "Closed"],
                       a.by_division.select("division", "open", "overdue", "closed").head(TOP_N).rows(),
                       [WIDTH - 180, 60, 60, 60], st, wrap=(0,))]
    if a.overdue_list.height:
        out += [_p(f"Overdue actions (top {TOP_N})", st["h2"]),
                _table(["Action", "Unit", "Owner", "Due on", "Days overdue"],
                       a.overdue_list.select("title", "unit", "owner", "due_on", "days_overdue").head(TOP_N).rows(),
                       [WIDTH - 280, 90, 70, 60, 60], st, wrap=(0, 1))]
    return out


def deadlines_page(p: ReviewPack, st) -> list:
    out = _section(8, st)
    k = p.deadline_kinds
    if k.height == 0:
        return [*out, _none(st, f"No review deadline was missed as of {p.as_of}.")]
    out += [_p(f"{p.headline.deadlines_missed} deadline(s) overdue or never met as of {p.as_of}, by kind", st["h2"]),
            hbar(k["kind"].to_list(), [k["missed"].to_list()], ["Missed"], [RED]),
            _p(f"Divisions with the most missed deadlines (top {TOP_N})", st["h2"]),
            _table(["Division", "Missed"], p.deadline_divisions.rows(), [WIDTH - 80, 80], st, wrap=(0,)),
            _p(f"Units with the most missed deadlines (top {TOP_N})", st["h2"]),
            _table(["Unit", "Missed", "Most overdue (days)"],
                   [(r["unit"], r["overdue"], -r["most urgent"] if r["most urgent"] is not None else "never")
                    for r in p.deadline_units.iter_rows(named=True)], [WIDTH - 180, 80, 100], st, wrap=(0,))]
    return out


def decisions_page(p: ReviewPack, st) -> list:
    out = _section(9, st)
    if not p.decisions:
        return [*out, _p("No figure in this pack calls for a decision; the review may still decide on changes, "
                         "resources and improvements.", st["body"])]
    rows = [(i, d.topic, d.text, "") for i, d in enumerate(p.decisions, start=1)]
    out += [_p("What the figures ask the review to decide; the last column is for the decision taken, its owner "
               "and date.", st["body"]), Spacer(1, 4),
            _table(["#", "Topic", "What to decide", "Decision, owner, date"], rows,
                   [18, 90, WIDTH - 258, 150], st, wrap=(1, 2))]
    return out


def _footer(campaign_id: str):
    def draw(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(GREY)
        canvas.drawString(1.8 * cm, 1.1 * cm, f"ITSCM management review pack · {campaign_id}")
        canvas.drawRightString(A4[0] - 1.8 * cm, 1.1 * cm, f"page {doc.page}")
        canvas.restoreState()
    return draw


def write_pdf(p: ReviewPack, out: str | Path | BinaryIO) -> None:
    """Render the pack to a file path or a binary stream."""
    _fonts()
    st = _styles()
    target = str(out) if isinstance(out, Path) else out
    doc = SimpleDocTemplate(target, pagesize=A4, leftMargin=1.8 * cm, rightMargin=1.8 * cm, topMargin=1.5 * cm,
                            bottomMargin=1.7 * cm, title=f"ITSCM management review {p.campaign['campaign_id']}",
                            author=p.generated_by, subject="ISO 22301 9.3 management review inputs",
                            creator=f"itscm {__version__}")
    story = [*headline_page(p, st), *maturity_page(p, st), *gaps_page(p, st), *recovery_page(p, st),
             *exercises_page(p, st), *incidents_page(p, st), *actions_page(p, st), *deadlines_page(p, st),
             *decisions_page(p, st)]
    footer = _footer(p.campaign["campaign_id"])
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


def management_review(db: Database, actor: Actor, campaign_id: str, out: str | Path | BinaryIO,
                      filters: Filters | None = None) -> ReviewPack:
    """Gather the review pack of a campaign (access checked there) and write its PDF to `out`."""
    pack = gather(db, actor, campaign_id, filters)
    write_pdf(pack, out)
    return pack


def management_review_bytes(db: Database, actor: Actor, campaign_id: str,
                            filters: Filters | None = None) -> tuple[bytes, str]:
    """The PDF as bytes with its download file name (for the dashboard's button)."""
    buf = io.BytesIO()
    pack = management_review(db, actor, campaign_id, buf, filters)
    return buf.getvalue(), pack_filename(campaign_id, pack.generated_at)

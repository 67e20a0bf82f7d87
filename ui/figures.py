"""Plotly figures for the pages: pure functions from polars frames (as the engine returns them) to figures.

No Streamlit and no database here, so every figure is unit-tested on its data (tests/test_figures.py).
Colours mean the same thing everywhere: red is below target or overdue, green is at or above target.
Plotly renders a subset of HTML in every label, so each piece of data text goes through `label` first.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import cast

import plotly.graph_objects as go
import polars as pl

PRIMARY = "#1f4e79"
TARGET = "#4a4a4a"
GOOD = "#2e7d32"
BAD = "#c62828"
WARN = "#ef8f00"
NEUTRAL = "#9e9e9e"
SERIES = ["#1f4e79", "#e07b39", "#2a9d8f", "#8e5ea2", "#c62828", "#6c757d", "#b5a400", "#3d85c6"]
CHANGE_COLOURS = {"improved": GOOD, "regressed": BAD, "unchanged": "#b0bec5", "not re-assessed": WARN}
BUCKET_COLOURS = {"never reviewed": "#6a1b9a", "overdue": BAD, "due in 30 days": WARN, "due in 60 days": "#f6c343",
                  "due in 90 days": "#8bc34a", "later": "#b0bec5"}
BUCKETS = list(BUCKET_COLOURS)
KIND_SYMBOLS = {"plan review": "diamond", "assessment due": "square", "evidence expiry": "circle",
                "service review": "triangle-up", "exercise due": "star"}
KIND_COLOURS = {"plan review": PRIMARY, "assessment due": "#e07b39", "evidence expiry": "#2a9d8f",
                "service review": "#6a4c93", "exercise due": "#264653"}
# Diverging scale for gap = target - score: green above target, white on target, red below.
GAP_SCALE = [[0.0, "#1b7837"], [0.35, "#a6dba0"], [0.5, "#f7f7f7"], [0.65, "#f4a582"], [1.0, "#b2182b"]]


def label(text) -> str:
    """Data text (unit, division, domain, campaign names, question and item texts) as Plotly shows it
    literally: Plotly reads <b>, <a href>, <br> and entities in labels, so < > & are escaped."""
    return html.escape(str(text), quote=False)


def _labels(values) -> list[str]:
    return [label(v) for v in values]


def _layout(fig: go.Figure, height: int, **kw) -> go.Figure:
    if kw.get("title"):
        kw["title"] = label(kw["title"])
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40 if kw.get("title") else 10, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
                      hoverlabel=dict(align="left"), **kw)
    return fig


def empty(message: str, height: int = 260) -> go.Figure:
    """A blank figure that says why there is nothing to draw."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="#6c757d"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height)


def _wrap(text: str, width: int = 16) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "<br>".join(lines)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def gap_heatmap(df: pl.DataFrame, domains: Sequence[tuple[str, str]] | None = None, title: str | None = None
                ) -> go.Figure:
    """Gap to target per row (division or unit) and domain: colour = gap, text = score.

    df: row_id, row_label, domain_id, score, target, gap, units (reports.heatmap). Rows are sorted worst
    first (largest mean gap at the top); columns follow `domains` [(id, name)] when given.
    customdata of each cell is [row_id, target, units] so a click can drill down.
    """
    if df.height == 0:
        return empty("No submitted assessments in this selection yet")
    order = [d for d, _ in domains] if domains else sorted(df["domain_id"].unique().to_list())
    names = {d: label(n) for d, n in (dict(domains) if domains else {d: d for d in order}).items()}
    order = [d for d in order if d in set(df["domain_id"].to_list())]
    rows = (df.group_by("row_id").agg(pl.col("row_label").first(), pl.col("gap").mean().alias("mean_gap"))
            .sort(["mean_gap", "row_label"], descending=[True, False], nulls_last=True))
    cells = {(r["row_id"], r["domain_id"]): r for r in df.iter_rows(named=True)}
    z, text, custom = [], [], []
    for rid in rows["row_id"].to_list():
        zr, tr, cr = [], [], []
        for d in order:
            c = cells.get((rid, d))
            gap = _num(c["gap"]) if c else None
            score = _num(c["score"]) if c else None
            zr.append(None if gap is None else round(gap, 2))
            tr.append("" if score is None else f"{score:.1f}")
            cr.append([rid, _num(c["target"]) if c else None, c["units"] if c else 0])
        z.append(zr)
        text.append(tr)
        custom.append(cr)
    top = max([abs(v) for r in z for v in r if v is not None] + [1.0])
    fig = go.Figure(go.Heatmap(
        z=z, x=[_wrap(names.get(d, label(d))) for d in order], y=_labels(rows["row_label"].to_list()), text=text,
        texttemplate="%{text}", customdata=custom, colorscale=GAP_SCALE, zmid=0, zmin=-top, zmax=top,
        xgap=2, ygap=2, colorbar=dict(title=dict(text="Gap to<br>target"), thickness=12),
        hovertemplate="<b>%{y}</b> · %{x}<br>Score %{text} against target %{customdata[1]:.1f}"
                      "<br>Gap %{z:+.2f} (units: %{customdata[2]})<extra></extra>",
    ))
    # Invisible markers at the cell centres make each cell clickable (plotly selects points, not heatmap
    # cells); they carry the same hover text, since they take the hover where they sit.
    cx = [_wrap(names.get(d, label(d))) for _ in z for d in order]
    cy = [row for row in _labels(rows["row_label"].to_list()) for _ in order]
    cells_data = [[*c, t, g] for cr, tr, zr in zip(custom, text, z) for c, t, g in zip(cr, tr, zr)]
    fig.add_trace(go.Scatter(
        x=cx, y=cy, mode="markers", showlegend=False, name="cells", customdata=cells_data,
        marker=dict(symbol="square", size=28, opacity=0.01, color="#000000"),
        hovertemplate="<b>%{y}</b> · %{x}<br>Score %{customdata[3]} against target %{customdata[1]:.1f}"
                      "<br>Gap %{customdata[4]:+.2f} (units: %{customdata[2]})<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="top")
    return _layout(fig, max(220, 60 + 42 * rows.height), title=title)


def radar(df: pl.DataFrame, name: str = "Score", title: str | None = None) -> go.Figure:
    """One unit's domain scores against its target. df: domain (label), score, target."""
    df = df.filter(pl.col("score").is_not_null()) if df.height else df
    if df.height == 0:
        return empty("No domain scores for this unit in this cycle")
    theta = [_wrap(label(t), 14) for t in df["domain"].to_list()]
    scores = [round(v, 2) for v in df["score"].to_list()]
    targets = df["target"].to_list()
    fig = go.Figure()
    fig.add_trace(go.Scatterpolar(r=targets + targets[:1], theta=theta + theta[:1], name="Target", mode="lines",
                                  line=dict(color=BAD, dash="dash", width=2)))
    fig.add_trace(go.Scatterpolar(r=scores + scores[:1], theta=theta + theta[:1], name=label(name), fill="toself",
                                  mode="lines+markers", line=dict(color=PRIMARY, width=2),
                                  fillcolor="rgba(31,78,121,0.25)",
                                  hovertemplate="%{theta}: %{r:.2f}<extra></extra>"))
    fig.update_layout(polar=dict(radialaxis=dict(range=[0, 5], dtick=1, angle=90, tickangle=90),
                                 angularaxis=dict(rotation=90, direction="clockwise"),
                                 domain=dict(x=[0.2, 0.8], y=[0.08, 0.9])))
    _layout(fig, 420, title=title)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=0.0, xanchor="center", x=0.5))
    return fig


def trend_lines(df: pl.DataFrame, title: str | None = None) -> go.Figure:
    """Score per campaign for each series, with that series' target as a dotted line.

    df: campaign_id, series, score, target (reports.trends); campaigns are in the frame's order.
    """
    if df.height == 0:
        return empty("No scored cycles yet")
    campaigns = _labels(dict.fromkeys(df["campaign_id"].to_list()))
    fig = go.Figure()
    for i, raw in enumerate(dict.fromkeys(df["series"].to_list())):
        s = df.filter(pl.col("series") == raw)
        series, colour, x = label(raw), SERIES[i % len(SERIES)], _labels(s["campaign_id"].to_list())
        fig.add_trace(go.Scatter(x=x, y=[_num(v) for v in s["score"].to_list()],
                                 name=series, mode="lines+markers", line=dict(color=colour, width=3),
                                 legendgroup=series,
                                 hovertemplate="%{fullData.name}<br>%{x}: %{y:.2f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=x, y=[_num(v) for v in s["target"].to_list()],
                                 name=f"{series} target", mode="lines", legendgroup=series,
                                 line=dict(color=colour, width=1.5, dash="dot"),
                                 hovertemplate="%{fullData.name}<br>%{x}: %{y:.2f}<extra></extra>"))
    fig.update_xaxes(categoryorder="array", categoryarray=campaigns, title=None)
    fig.update_yaxes(range=[0, 5], dtick=1, title="Score (0-5)")
    return _layout(fig, 340, title=title)


def top_gaps_bar(df: pl.DataFrame, questions: dict[str, str] | None = None, title: str | None = None) -> go.Figure:
    """Largest gaps ranked by priority (gap × weight × tier factor), biggest at the top.

    df: unit, tier, gap, priority, score, target and question_id (question level) or domain_id.
    questions maps question ids to their text for the hover.
    """
    if df.height == 0:
        return empty("No gaps: every scored answer meets its target")
    key = "question_id" if "question_id" in df.columns else "domain_id"
    d = df.sort("priority", descending=False)
    labels = [f"{label(u)} · {label(k)}" for u, k in zip(d["unit"].to_list(), d[key].to_list())]
    hover = [label(_short((questions or {}).get(k, k), 90)) for k in d[key].to_list()]
    fig = go.Figure(go.Bar(
        x=[round(v, 2) for v in d["priority"].to_list()], y=labels, orientation="h",
        marker=dict(color=[_num(g) for g in d["gap"].to_list()], colorscale=[[0, "#f4a582"], [1, "#b2182b"]],
                    cmin=0, cmax=5),
        text=[f"gap {g:.1f} (tier {t})" for g, t in zip(d["gap"].to_list(), d["tier"].to_list())],
        textposition="auto", customdata=list(zip(hover, d["score"].to_list(), d["target"].to_list())),
        hovertemplate="<b>%{y}</b><br>%{customdata[0]}<br>Score %{customdata[1]:.1f} against target "
                      "%{customdata[2]:.1f}<br>Priority %{x:.1f}<extra></extra>",
    ))
    fig.update_xaxes(title="Priority (gap × weight × tier factor)")
    return _layout(fig, max(240, 40 + 28 * d.height), title=title)


def coverage_bar(df: pl.DataFrame, title: str | None = None) -> go.Figure:
    """Share of scored units at target for each checklist item (questionnaire order, first at the top).

    df: checklist_id, text, units, units_at_target, share_at_target (reports.checklist_coverage).
    """
    if df.height == 0 or df["units"].sum() == 0:
        return empty("No submitted assessments in this selection yet")
    shares = [0.0 if v is None else round(100 * v, 1) for v in df["share_at_target"].to_list()]
    colours = [BAD if s < 40 else WARN if s < 70 else GOOD for s in shares]
    labels = [f"{label(c)} · {label(_short(t, 55))}"
              for c, t in zip(df["checklist_id"].to_list(), df["text"].to_list())]
    fig = go.Figure(go.Bar(
        x=shares, y=labels, orientation="h", marker_color=colours,
        text=[f"{s:.0f}%  ({a}/{n})" for s, a, n in zip(shares, df["units_at_target"].to_list(),
                                                       df["units"].to_list())],
        textposition="outside", customdata=_labels(df["text"].to_list()),
        hovertemplate="%{customdata}<br>%{x:.0f}% of scored units at target<extra></extra>",
    ))
    fig.update_xaxes(range=[0, 115], title="Units at target (%)", ticksuffix="%")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, max(260, 40 + 30 * df.height), title=title)


def changes_bar(df: pl.DataFrame, title: str | None = None) -> go.Figure:
    """Per unit, how many questions improved, regressed, stayed or were not re-assessed (stacked).

    df: unit, improved, regressed, unchanged, not_reassessed (reports.changes).
    """
    if df.height == 0:
        return empty("No previous cycle to compare with")
    fig = go.Figure()
    for col, kind in (("improved", "improved"), ("regressed", "regressed"), ("unchanged", "unchanged"),
                      ("not_reassessed", "not re-assessed")):
        fig.add_trace(go.Bar(x=df[col].to_list(), y=_labels(df["unit"].to_list()), name=kind, orientation="h",
                             marker_color=CHANGE_COLOURS[kind],
                             hovertemplate=f"%{{y}}: %{{x}} question(s) {kind}<extra></extra>"))
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="Questions")
    return _layout(fig, max(240, 60 + 26 * df.height), title=title)


def domain_bars(df: pl.DataFrame, title: str | None = None) -> go.Figure:
    """A unit's score per domain (horizontal bars coloured by gap) with the target as a tick mark.

    df: domain (label), score, target, gap; domains in questionnaire order, first at the top.
    """
    if df.height == 0 or df["score"].is_null().all():
        return empty("No domain scores for this cycle")
    gaps = [_num(g) for g in df["gap"].to_list()]
    colours = [NEUTRAL if g is None else GOOD if g <= 0 else WARN if g <= 0.5 else BAD for g in gaps]
    labels = _labels(df["domain"].to_list())
    fig = go.Figure()
    fig.add_trace(go.Bar(y=labels, x=[_num(v) for v in df["score"].to_list()], name="Score", orientation="h",
                         marker_color=colours, text=[("" if v is None else f"{v:.2f}") for v in df["score"].to_list()],
                         textposition="outside", hovertemplate="%{y}: %{x:.2f}<extra></extra>"))
    fig.add_trace(go.Scatter(y=labels, x=[_num(v) for v in df["target"].to_list()], name="Target", mode="markers",
                             marker=dict(symbol="line-ns", size=30, line=dict(width=3, color=TARGET)),
                             hovertemplate="target %{x:.1f}<extra></extra>"))
    fig.update_xaxes(range=[0, 5.4], dtick=1, title="Score (0-5)")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, 360, title=title)


def domain_trends(df: pl.DataFrame, domains: Sequence[tuple[str, str]] | None = None,
                  title: str | None = None) -> go.Figure:
    """A unit's domain scores across cycles. df: campaign_id, domain_id, score, target (reports.domain_trends)."""
    if df.height == 0:
        return empty("No scored cycles for this unit yet")
    names = {d: label(n) for d, n in (dict(domains) if domains else {}).items()}
    order = [d for d, _ in domains] if domains else list(dict.fromkeys(df["domain_id"].to_list()))
    campaigns = _labels(dict.fromkeys(df["campaign_id"].to_list()))
    fig = go.Figure()
    for i, d in enumerate(x for x in order if x in set(df["domain_id"].to_list())):
        s = df.filter(pl.col("domain_id") == d)
        fig.add_trace(go.Scatter(x=_labels(s["campaign_id"].to_list()), y=[_num(v) for v in s["score"].to_list()],
                                 name=names.get(d, label(d)), mode="lines+markers",
                                 line=dict(color=SERIES[i % len(SERIES)], width=2),
                                 hovertemplate="%{fullData.name}<br>%{x}: %{y:.2f}<extra></extra>"))
    t = df.group_by("campaign_id", maintain_order=True).agg(pl.col("target").max())
    fig.add_trace(go.Scatter(x=_labels(t["campaign_id"].to_list()), y=t["target"].to_list(), name="Target",
                             mode="lines", line=dict(color=TARGET, dash="dash", width=2)))
    fig.update_xaxes(categoryorder="array", categoryarray=campaigns)
    fig.update_yaxes(range=[0, 5], dtick=1, title="Score (0-5)")
    _layout(fig, 400, title=title)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0))
    return fig


def progress_bar(df: pl.DataFrame, title: str | None = None) -> go.Figure:
    """Assessment workflow state per division, stacked. df: division, approved, awaiting_review, returned, draft."""
    if df.height == 0:
        return empty("No assessments in this campaign")
    fig = go.Figure()
    for col, kind, colour in (("approved", "approved", GOOD), ("awaiting_review", "awaiting review", "#66bb6a"),
                              ("returned", "returned", WARN), ("draft", "not submitted", "#cfd8dc")):
        fig.add_trace(go.Bar(x=df[col].to_list(), y=_labels(df["division"].to_list()), name=kind, orientation="h",
                             marker_color=colour, hovertemplate=f"%{{y}}: %{{x}} {kind}<extra></extra>"))
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="Assessments", dtick=1 if cast(int, df["expected"].max()) <= 10 else None)
    return _layout(fig, max(200, 70 + 34 * df.height), title=title)


def deadlines_timeline(df: pl.DataFrame, today: date, title: str | None = None, limit: int = 150) -> go.Figure:
    """Deadlines on a time axis, one row per unit, one marker shape per kind, with today marked.

    df: kind, unit, due_on, item, days_left, bucket (reports.deadlines). Items without a date (never
    reviewed) cannot be placed and are left out; at most `limit` of the most urgent items are drawn.
    """
    d = df.filter(pl.col("due_on").is_not_null()) if df.height else df
    if d.height == 0:
        return empty("No dated deadlines in this selection")
    d = d.sort("days_left").head(limit)
    units = _labels(d.group_by("unit").agg(pl.col("days_left").min()).sort(["days_left", "unit"])["unit"].to_list())
    fig = go.Figure()
    for kind in [k for k in KIND_SYMBOLS if k in set(d["kind"].to_list())]:
        s = d.filter(pl.col("kind") == kind)
        fig.add_trace(go.Scatter(
            x=s["due_on"].to_list(), y=_labels(s["unit"].to_list()), mode="markers", name=kind,
            marker=dict(symbol=KIND_SYMBOLS[kind], size=11, color=[BUCKET_COLOURS[b] for b in s["bucket"]],
                        line=dict(width=1.5, color=KIND_COLOURS[kind])),
            customdata=list(zip(_labels(s["item"].to_list()), s["days_left"].to_list(), s["bucket"].to_list())),
            hovertemplate="<b>%{y}</b><br>%{customdata[0]}<br>due %{x|%d %b %Y} · %{customdata[2]}"
                          "<extra></extra>",
        ))
    lo = min(cast(date, d["due_on"].min()), today) - timedelta(days=7)
    fig.add_vrect(x0=lo, x1=today, fillcolor=BAD, opacity=0.06, line_width=0)
    fig.add_vline(x=today, line=dict(color=BAD, width=2, dash="dash"))
    fig.add_annotation(x=today, y=1.0, yref="paper", text="today", showarrow=False, yanchor="bottom",
                       font=dict(color=BAD))
    fig.update_yaxes(categoryorder="array", categoryarray=units, autorange="reversed")
    fig.update_xaxes(title=None)
    return _layout(fig, max(260, 80 + 24 * len(units)), title=title)


def bucket_bar(df: pl.DataFrame, by: str = "division", title: str | None = None) -> go.Figure:
    """Deadline counts per `by` (division or unit) stacked by urgency bucket. df: by, bucket, count."""
    if df.height == 0:
        return empty("No deadlines in this selection")
    rows = (df.group_by(by).agg(pl.col("count").sum()).sort(["count", by], descending=[True, False])[by].to_list())
    fig = go.Figure()
    for b in BUCKETS:
        s = df.filter(pl.col("bucket") == b)
        if s.height == 0:
            continue
        counts = dict(zip(s[by].to_list(), s["count"].to_list()))
        fig.add_trace(go.Bar(x=[counts.get(r, 0) for r in rows], y=_labels(rows), name=b, orientation="h",
                             marker_color=BUCKET_COLOURS[b], hovertemplate=f"%{{y}}: %{{x}} {b}<extra></extra>"))
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, max(200, 70 + 30 * len(rows)), title=title)

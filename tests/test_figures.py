"""The page figures are pure functions of polars frames: check what they draw, value by value."""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import polars as pl
import pytest

from ui import figures

DOMAINS = [("GOV", "Governance"), ("TEST", "Testing")]


def _is_empty(fig: go.Figure) -> bool:
    return len(fig.data) == 0 and len(fig.layout.annotations) == 1


def test_heatmap_rows_worst_first_columns_in_domain_order_and_cells():
    df = pl.DataFrame({
        "row_id": ["D1", "D1", "D2", "D2"], "row_label": ["North", "North", "South", "South"],
        "domain_id": ["TEST", "GOV", "GOV", "TEST"], "score": [3.0, 2.0, 1.0, 4.5],
        "target": [3.0, 3.0, 4.0, 4.0], "gap": [0.0, 1.0, 3.0, -0.5], "units": [2, 2, 1, 1]})
    fig = figures.gap_heatmap(df, DOMAINS)
    h = fig.data[0]
    assert list(h.y) == ["South", "North"]           # mean gap 1.25 before 0.5
    assert list(h.x) == ["Governance", "Testing"]     # questionnaire order, not alphabetical ids
    assert [list(r) for r in h.z] == [[3.0, -0.5], [1.0, 0.0]]
    assert [list(r) for r in h.text] == [["1.0", "4.5"], ["2.0", "3.0"]]
    assert h.customdata[0][0][0] == "D2" and h.customdata[1][1] == ["D1", 3.0, 2]  # drill-down id, target, units
    assert h.zmid == 0 and h.zmin == -3.0 and h.zmax == 3.0  # symmetric around the target
    cells = fig.data[1]                                        # clickable cell centres for the drill-down
    assert list(cells.y) == ["South", "South", "North", "North"]
    assert [c[0] for c in cells.customdata] == ["D2", "D2", "D1", "D1"]
    assert cells.customdata[0][3:] == ["1.0", 3.0]             # score text and gap for the hover


def test_heatmap_missing_cell_is_blank_and_empty_frame_says_why():
    df = pl.DataFrame({"row_id": ["U1"], "row_label": ["Unit 1"], "domain_id": ["GOV"], "score": [2.0],
                       "target": [2.0], "gap": [0.0], "units": [1]})
    fig = figures.gap_heatmap(df, DOMAINS)
    assert list(fig.data[0].x) == ["Governance"]  # a domain nobody scored is left out
    assert _is_empty(figures.gap_heatmap(df.clear(), DOMAINS))


def test_radar_closes_the_polygon_and_draws_target():
    df = pl.DataFrame({"domain": ["Gov", "Risk", "Test"], "score": [2.5, None, 4.0], "target": [4.0, 4.0, 4.0]})
    fig = figures.radar(df, name="Payments")
    target, score = fig.data
    assert target.name == "Target" and list(target.r) == [4.0, 4.0, 4.0]
    assert score.name == "Payments" and list(score.r) == [2.5, 4.0, 2.5]   # unscored domain dropped, loop closed
    assert list(score.theta) == ["Gov", "Test", "Gov"]
    assert _is_empty(figures.radar(df.filter(pl.col("score").is_null())))


def test_trend_lines_one_score_and_one_target_trace_per_series():
    df = pl.DataFrame({"campaign_id": ["C1", "C2", "C1", "C2"], "series": ["Org", "Org", "Retail", "Retail"],
                       "score": [2.0, 2.5, 1.5, 3.0], "target": [3.0, 3.0, 2.0, 2.5]})
    fig = figures.trend_lines(df)
    assert [t.name for t in fig.data] == ["Org", "Org target", "Retail", "Retail target"]
    assert list(fig.data[0].y) == [2.0, 2.5] and list(fig.data[3].y) == [2.0, 2.5]
    assert fig.data[1].line.dash == "dot"
    assert list(fig.layout.xaxis.categoryarray) == ["C1", "C2"]


def test_top_gaps_bar_biggest_priority_on_top_with_question_text():
    df = pl.DataFrame({"unit": ["A", "B", "C"], "tier": [1, 3, 2], "question_id": ["Q1", "Q2", "Q3"],
                       "gap": [1.0, 2.0, 3.0], "priority": [9.0, 2.0, 12.0], "score": [3.0, 0.0, 0.0],
                       "target": [4.0, 2.0, 3.0]})
    fig = figures.top_gaps_bar(df, {"Q3": "Is there a plan?"})
    bar = fig.data[0]
    assert list(bar.y) == ["B · Q2", "A · Q1", "C · Q3"]   # plotly draws the last bar at the top
    assert list(bar.x) == [2.0, 9.0, 12.0]
    assert bar.customdata[2][0] == "Is there a plan?"
    assert _is_empty(figures.top_gaps_bar(df.clear()))


def test_top_gaps_bar_at_domain_level():
    df = pl.DataFrame({"unit": ["A"], "tier": [1], "domain_id": ["GOV"], "gap": [1.5], "priority": [5.4],
                       "score": [2.5], "target": [4.0]})
    assert list(figures.top_gaps_bar(df).data[0].y) == ["A · GOV"]


def test_coverage_bar_percentages_and_traffic_light_colours():
    df = pl.DataFrame({"checklist_id": ["CL-01", "CL-02", "CL-03", "PM"], "text": ["a", "b", "c", "d"],
                       "units": [10, 10, 10, 0], "units_at_target": [2, 5, 8, 0],
                       "share_at_target": [0.2, 0.5, 0.8, None]})
    bar = figures.coverage_bar(df).data[0]
    assert list(bar.x) == [20.0, 50.0, 80.0, 0.0]
    assert list(bar.marker.color) == [figures.BAD, figures.WARN, figures.GOOD, figures.BAD]
    assert bar.text[1] == "50%  (5/10)"
    assert _is_empty(figures.coverage_bar(df.with_columns(pl.lit(0).alias("units"))))


def test_changes_bar_stacks_the_four_kinds_per_unit():
    df = pl.DataFrame({"unit": ["A", "B"], "improved": [3, 0], "regressed": [1, 0], "unchanged": [5, 0],
                       "not_reassessed": [0, 9]})
    fig = figures.changes_bar(df)
    assert [t.name for t in fig.data] == ["improved", "regressed", "unchanged", "not re-assessed"]
    assert [list(t.x) for t in fig.data] == [[3, 0], [1, 0], [5, 0], [0, 9]]
    assert fig.layout.barmode == "stack"
    assert _is_empty(figures.changes_bar(df.clear()))


def test_domain_bars_colour_by_gap_and_target_ticks():
    df = pl.DataFrame({"domain": ["Gov", "Risk", "Test", "Comm"], "score": [4.0, 2.8, 1.0, None],
                       "target": [3.0, 3.0, 3.0, 3.0], "gap": [-1.0, 0.2, 2.0, None]})
    bars, ticks = figures.domain_bars(df).data
    assert list(bars.x) == [4.0, 2.8, 1.0, None]
    assert list(bars.marker.color) == [figures.GOOD, figures.WARN, figures.BAD, figures.NEUTRAL]
    assert list(ticks.x) == [3.0, 3.0, 3.0, 3.0] and ticks.marker.symbol == "line-ns"


def test_domain_trends_one_line_per_domain_plus_target():
    df = pl.DataFrame({"campaign_id": ["C1", "C1", "C2", "C2"], "domain_id": ["TEST", "GOV", "GOV", "TEST"],
                       "score": [1.0, 2.0, 3.0, 2.5], "target": [4.0, 4.0, 4.0, 4.0]})
    fig = figures.domain_trends(df, DOMAINS)
    assert [t.name for t in fig.data] == ["Governance", "Testing", "Target"]
    assert list(fig.data[0].y) == [2.0, 3.0] and list(fig.data[1].y) == [1.0, 2.5]
    assert list(fig.data[2].y) == [4.0, 4.0]


def test_progress_bar_stacks_workflow_states():
    df = pl.DataFrame({"division": ["North", "South"], "expected": [4, 3], "approved": [1, 0],
                       "awaiting_review": [2, 1], "returned": [0, 1], "draft": [1, 1]})
    fig = figures.progress_bar(df)
    assert [list(t.x) for t in fig.data] == [[1, 0], [2, 1], [0, 1], [1, 1]]
    assert sum(sum(t.x) for t in fig.data) == 7


def test_deadlines_timeline_places_dated_items_by_kind_and_marks_today():
    today = date(2026, 6, 1)
    df = pl.DataFrame({
        "kind": ["plan review", "plan review", "evidence expiry", "assessment due"],
        "unit": ["A", "B", "A", "C"], "due_on": [date(2026, 5, 1), None, date(2026, 7, 1), date(2026, 6, 10)],
        "item": ["review", "review", "GOV-01", "cycle"], "days_left": [-31, None, 30, 9],
        "bucket": ["overdue", "never reviewed", "due in 30 days", "due in 30 days"]})
    fig = figures.deadlines_timeline(df, today)
    assert [t.name for t in fig.data] == ["plan review", "assessment due", "evidence expiry"]
    assert list(fig.data[0].y) == ["A"]                       # B has no date: not drawn
    assert list(fig.data[0].marker.color) == [figures.BUCKET_COLOURS["overdue"]]
    assert list(fig.layout.yaxis.categoryarray) == ["A", "C"]  # most urgent unit first
    assert any(s.type == "line" and s.x0 == today for s in fig.layout.shapes)
    assert len(figures.deadlines_timeline(df, today, limit=1).data) == 1
    assert _is_empty(figures.deadlines_timeline(df.filter(pl.col("due_on").is_null()), today))


def test_bucket_bar_counts_per_division_in_urgency_order():
    df = pl.DataFrame({"division": ["N", "N", "S"], "bucket": ["later", "overdue", "overdue"],
                       "count": [5, 1, 2]})
    fig = figures.bucket_bar(df, "division")
    assert [t.name for t in fig.data] == ["overdue", "later"]
    assert list(fig.data[0].y) == ["N", "S"] and list(fig.data[0].x) == [1, 2]
    assert list(fig.data[1].x) == [5, 0]


@pytest.mark.parametrize("fn", [figures.gap_heatmap, figures.trend_lines, figures.changes_bar,
                                figures.progress_bar])
def test_empty_frames_give_an_explained_blank_figure(fn):
    assert _is_empty(fn(pl.DataFrame()))

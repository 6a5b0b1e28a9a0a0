"""Charts are checked on the data the figures carry, built from real statistics where it matters."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import pytest

from routing_core.datasets import load_dataset
from routing_core.datasets.stats import compute_stats
from tests.conftest import FABRICAD, FABRICAD_MAP
from ui import charts


@pytest.fixture(scope="module")
def fabricad_stats() -> dict:
    return compute_stats(load_dataset(FABRICAD, FABRICAD_MAP))


def test_safe_label_escapes_plotly_markup():
    assert charts.safe_label("<a href='x'>A&B</a>") == "&lt;a href='x'&gt;A&amp;B&lt;/a&gt;"
    assert charts.safe_label(12) == "12"


def test_missing_rate_worst_first_every_column(fabricad_stats):
    rates = fabricad_stats["missing_rate"]
    fig = charts.missing_rate_chart(rates)
    bar = fig.data[0]
    assert isinstance(fig, go.Figure) and isinstance(bar, go.Bar)
    assert sorted(bar.y) == sorted(rates)  # every column, once
    assert list(bar.x) == sorted(rates.values(), reverse=True)
    assert dict(zip(bar.y, bar.x, strict=True)) == rates


def test_missing_rate_ties_by_name_and_text():
    fig = charts.missing_rate_chart({"b": 0.0, "a": 0.0, "c": 0.25})
    assert list(fig.data[0].y) == ["c", "a", "b"]
    assert list(fig.data[0].text) == ["25.0 %", "0.0 %", "0.0 %"]


def test_routing_length_sorted_numerically():
    fig = charts.routing_length_chart({"10": 1, "2": 5, "3": 7})
    assert list(fig.data[0].x) == [2, 3, 10]
    assert list(fig.data[0].y) == [5, 7, 1]


def test_duration_summary_boxes_from_percentiles(fabricad_stats):
    summary = fabricad_stats["duration_min"]
    fig = charts.duration_summary_chart({"operation": summary, "routing": None})
    assert len(fig.data) == 1  # a missing summary is left out
    box = fig.data[0]
    assert box.q1[0] == summary["p25"] and box.median[0] == summary["median"]
    assert box.lowerfence[0] == summary["p5"] and box.upperfence[0] == summary["p95"]


def test_duration_by_process_most_frequent_with_range():
    data = {
        "SAW": {"count": 3, "median": 2.0, "min": 1.0, "max": 4.0},
        "MILL": {"count": 9, "median": 10.0, "min": 5.0, "max": 30.0},
        "RARE": {"count": 1, "median": 7.0, "min": None, "max": None},
    }
    fig = charts.duration_by_process_chart(data, top=2)
    bar = fig.data[0]
    assert list(bar.y) == ["MILL", "SAW"]
    assert list(bar.x) == [10.0, 2.0]
    assert list(bar.error_x.array) == [20.0, 2.0]
    assert list(bar.error_x.arrayminus) == [5.0, 1.0]


def test_process_frequency_order_and_top(fabricad_stats):
    freq = fabricad_stats["process_frequency"]
    fig = charts.process_frequency_chart(freq, top=3)
    bar = fig.data[0]
    assert len(bar.y) == min(3, len(freq))
    assert list(bar.x) == sorted(freq.values(), reverse=True)[: len(bar.y)]
    for code, count in zip(bar.y, bar.x, strict=True):
        assert freq[code] == count


def test_transition_heatmap_cells_match_counts(fabricad_stats):
    transitions = fabricad_stats["transitions"]
    fig = charts.transition_heatmap(transitions)
    hm = fig.data[0]
    assert isinstance(hm, go.Heatmap)
    assert list(hm.x) == list(hm.y)
    cells = {
        (hm.y[i], hm.x[j]): hm.z[i][j]
        for i in range(len(hm.y))
        for j in range(len(hm.x))
        if hm.z[i][j] is not None
    }
    assert cells == {(t["from"], t["to"]): t["count"] for t in transitions}


def test_transition_heatmap_by_hand():
    fig = charts.transition_heatmap(
        [{"from": "SAW", "to": "MILL", "count": 5}, {"from": "MILL", "to": "<b>QC</b>", "count": 2}]
    )
    hm = fig.data[0]
    assert list(hm.x) == ["MILL", "SAW", "&lt;b&gt;QC&lt;/b&gt;"]  # MILL takes part 7 times
    assert hm.z[1][0] == 5 and hm.z[0][2] == 2 and hm.z[0][0] is None


def test_metrics_comparison_panels_and_baseline():
    rows = [
        {"version": "v1", "values": {"routing_accuracy": 0.8, "f1_weighted": 0.9},
         "baseline": {"routing_accuracy": 0.5, "f1_weighted": 0.7}, "baseline_name": "most_frequent"},
        {"version": "v2", "values": {"routing_accuracy": 0.6, "f1_weighted": None},
         "baseline": {"routing_accuracy": 0.55}, "baseline_name": "best_attribute"},
    ]
    fig = charts.metrics_comparison_chart(rows, ["routing_accuracy", "f1_weighted"], {"f1_weighted": "F1"})
    assert len(fig.data) == 4  # dots + baseline per metric
    acc_bar, acc_base, f1_bar, f1_base = fig.data
    assert list(acc_bar.x) == ["v1", "v2"] and list(acc_bar.y) == [0.8, 0.6]
    assert list(acc_base.y) == [0.5, 0.55]
    assert [list(c) for c in acc_base.customdata] == [["most_frequent", 0.5], ["best_attribute", 0.55]]
    assert list(f1_bar.y) == [0.9, None]
    # F1's panel spans 0.88–0.92 around its one value: the 0.7 baseline sits on the edge, pointing down
    assert f1_base.y[0] == pytest.approx(0.88) and f1_base.y[1] is None
    assert f1_base.marker.symbol[0] == "triangle-down" and f1_base.customdata[0][1] == 0.7
    assert [a.text for a in fig.layout.annotations] == ["routing_accuracy", "F1"]
    assert acc_bar.showlegend and not f1_bar.showlegend
    # one colour for the baseline marks of every panel, as the single legend entry says
    assert acc_base.marker.color == f1_base.marker.color == acc_base.marker.line.color


def test_step_timeline_starts_and_ranges():
    steps = [
        {"seq": 10, "process_code": "SAW", "duration_min": 2.0, "duration_low": 1.5, "duration_high": 3.0},
        {"seq": 20, "process_code": "MILL", "duration_min": None, "duration_low": None, "duration_high": None},
        {"seq": 30, "process_code": "SAW", "duration_min": 5.0, "duration_low": 4.0, "duration_high": 7.0},
    ]
    fig = charts.step_timeline_chart(steps)
    bars, ranges = fig.data
    assert list(bars.y) == ["10 SAW", "20 MILL", "30 SAW"]  # repeated processes stay apart
    assert list(bars.base) == [0.0, 2.0, 2.0]
    assert list(bars.x) == [2.0, 0.0, 5.0]
    assert bars.customdata[1] == "no time estimate"
    assert list(ranges.x) == [1.5, 3.0, None, 6.0, 9.0, None]
    assert list(ranges.y) == ["10 SAW", "10 SAW", None, "30 SAW", "30 SAW", None]


def test_step_timeline_nan_duration_is_missing():
    fig = charts.step_timeline_chart(
        [{"seq": 1, "process_code": "X", "duration_min": math.nan, "duration_low": 1, "duration_high": 2}]
    )
    assert list(fig.data[0].x) == [0.0]
    assert fig.data[0].customdata[0] == "no time estimate"
    assert fig.data[1].x is None or list(fig.data[1].x) == []


def test_metrics_comparison_axis_shows_a_small_difference_and_panels_wrap():
    rows = [{"version": "a", "values": {m: 0.905 for m in "wxyz"}, "baseline": {}},
            {"version": "b", "values": {m: 0.917 for m in "wxyz"}, "baseline": {}}]
    fig = charts.metrics_comparison_chart(rows, list("wxyz"))
    low, high = fig.layout.yaxis.range
    assert 0.85 < low < 0.905 and 0.917 < high <= 1.0  # not 0–1: 1.2 points fill a visible part
    assert (0.917 - 0.905) / (high - low) > 0.2
    # two panels to a row: the third panel sits below the first (titles never share one line of four)
    assert fig.layout.xaxis3.domain == fig.layout.xaxis.domain
    assert fig.layout.yaxis3.domain[1] < fig.layout.yaxis.domain[0]


def test_paired_difference_chart_intervals():
    fig = charts.paired_difference_chart([{"label": "routing accuracy", "diff": 1.2, "low": -0.5, "high": 3.0}])
    (dots,) = fig.data
    assert list(dots.x) == [1.2]
    assert list(dots.error_x.array) == pytest.approx([1.8]) and list(dots.error_x.arrayminus) == pytest.approx([1.7])


def test_metrics_comparison_zooms_past_a_far_baseline():
    # Two versions 1.6 points apart, their baselines far below: the axis spans the versions'
    # values, the baselines sit on the lower edge as triangles, their hover keeps the value.
    rows = [{"version": "a", "values": {"m": 0.906}, "baseline": {"m": 0.35}, "baseline_name": "most_frequent"},
            {"version": "b", "values": {"m": 0.922}, "baseline": {"m": 0.40}, "baseline_name": "most_frequent"}]
    fig = charts.metrics_comparison_chart(rows, ["m"])
    low, high = fig.layout.yaxis.range
    assert low == pytest.approx(0.886) and high == pytest.approx(0.942)  # 0.906 − 0.02, 0.922 + 0.02
    assert (0.922 - 0.906) / (high - low) > 0.25  # the difference fills over a quarter of the panel
    dots, base = fig.data
    assert dots.mode == "markers+text" and dots.type == "scatter"  # dots: no bar from a cut-off axis
    assert list(base.y) == [pytest.approx(0.886)] * 2
    assert list(base.marker.symbol) == ["triangle-down", "triangle-down"]
    assert [c[1] for c in base.customdata] == [0.35, 0.40]


def test_durations_drawn_in_the_plants_unit():
    steps = [{"seq": 10, "process_code": "SAW", "duration_min": 90.0, "duration_low": 60.0, "duration_high": 120.0},
             {"seq": 20, "process_code": "MILL", "duration_min": 30.0, "duration_low": None, "duration_high": None}]
    fig = charts.step_timeline_chart(steps, unit="h")
    bars, ranges = fig.data
    assert list(bars.x) == [1.5, 0.5] and list(bars.base) == [0.0, 1.5]
    assert list(ranges.x) == [1.0, 2.0, None]
    assert fig.layout.xaxis.title.text == "hours from start"
    assert bars.customdata[0] == "1.5 h (range 1.0–2.0)"
    box = charts.duration_summary_chart(
        {"per operation": {"p5": 6, "p25": 12, "median": 30, "p75": 60, "p95": 120, "mean": 40}}, unit="h")
    assert box.data[0].median == (0.5,) and box.data[0].upperfence == (2.0,)
    assert box.layout.xaxis.title.text.startswith("hours")
    per = charts.duration_by_process_chart({"SAW": {"count": 3, "median": 120, "min": 60, "max": 180}}, unit="s")
    assert list(per.data[0].x) == [7200.0] and per.layout.xaxis.title.text.startswith("seconds")


def test_toolbar_stands_beside_the_plot_never_over_the_title():
    fig = charts.step_timeline_chart([{"seq": 1, "process_code": "X", "duration_min": 1.0}],
                                     title="Candidate 1: steps")
    assert fig.layout.modebar.orientation == "v"
    assert charts.missing_rate_chart({"a": 0.1}).layout.modebar.orientation == "v"

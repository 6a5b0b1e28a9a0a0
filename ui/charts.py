"""Plotly figures for the dashboard, built from plain data (dicts, lists, frames) so they test without a browser."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from routing_core.mapping import units
from routing_core.platform.formatting import finite, percent

MODEL_COLOR = "#1f77b4"
BASELINE_COLOR = "#7f7f7f"
RANGE_COLOR = "#d62728"
BAR_HEIGHT_PX = 22
MIN_HEIGHT_PX = 260


def safe_label(value: object) -> str:
    """A user-supplied label Plotly shows as text: its pseudo-HTML tags (<b>, <a href>) are escaped."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _height(n_bars: int) -> int:
    return max(MIN_HEIGHT_PX, 80 + BAR_HEIGHT_PX * n_bars)




def _layout(fig: go.Figure, title: str, **kwargs: object) -> go.Figure:
    """Title and margins; Plotly's toolbar stands upright at the right edge, beside the plot, so it
    never covers the title (a long one on a phone reaches under a horizontal toolbar)."""
    fig.update_layout(title=title, margin={"l": 10, "r": 10, "t": 50, "b": 10}, modebar={"orientation": "v"},
                      **kwargs)
    return fig


def missing_rate_chart(missing_rate: Mapping[str, float]) -> go.Figure:
    """Horizontal bars of the missing share of every column, worst on top."""
    ordered = sorted(missing_rate.items(), key=lambda kv: (-float(kv[1]), str(kv[0])))
    columns = [safe_label(c) for c, _ in ordered]
    rates = [float(r) for _, r in ordered]
    fig = go.Figure(
        go.Bar(
            x=rates,
            y=columns,
            orientation="h",
            text=[percent(r) for r in rates],  # rounded as the missing values table rounds
            textposition="auto",
            marker_color=[RANGE_COLOR if r >= 0.05 else MODEL_COLOR for r in rates],
            hovertemplate="%{y}: %{x:.1%} missing<extra></extra>",
        )
    )
    top = max([*rates, 0.01])
    fig.update_xaxes(tickformat=".1%" if top < 0.1 else ".0%", range=[0, top * 1.1], title="missing")
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, "Missing values per column", height=_height(len(columns)))


def routing_length_chart(distribution: Mapping[str | int, int]) -> go.Figure:
    """Bars: how many items have a routing of each length."""
    ordered = sorted(((int(k), int(v)) for k, v in distribution.items()), key=lambda kv: kv[0])
    fig = go.Figure(
        go.Bar(
            x=[k for k, _ in ordered],
            y=[v for _, v in ordered],
            marker_color=MODEL_COLOR,
            hovertemplate="%{x} steps: %{y} items<extra></extra>",
        )
    )
    fig.update_xaxes(title="steps in the routing", dtick=1)
    fig.update_yaxes(title="items")
    return _layout(fig, "Routing length", height=MIN_HEIGHT_PX + 40)


def _per_unit(unit: str) -> float:
    """Minutes per `unit` (times are kept in minutes; charts draw them in the plant's unit)."""
    return units.UNITS[units.check(unit)][1]


def _scaled(value: object, unit: str) -> float | None:
    number = finite(value)
    return None if number is None else number / _per_unit(unit)


def duration_summary_chart(summaries: Mapping[str, Mapping[str, float] | None], unit: str = "min") -> go.Figure:
    """One box per summary (p5, p25, median, p75, p95 as computed by stats, in minutes), e.g. per
    operation and per routing, drawn in `unit`."""
    fig = go.Figure()
    for label, minutes in summaries.items():
        if not minutes:
            continue
        summary = {k: _scaled(minutes.get(k), unit) for k in ("p5", "p25", "median", "p75", "p95", "mean")}
        fig.add_trace(
            go.Box(
                name=safe_label(label),
                q1=[summary["p25"]],
                median=[summary["median"]],
                q3=[summary["p75"]],
                lowerfence=[summary["p5"]],
                upperfence=[summary["p95"]],
                mean=[summary["mean"]],
                boxpoints=False,
                orientation="h",
                y=[safe_label(label)],
                marker_color=MODEL_COLOR,
                showlegend=False,
            )
        )
    fig.update_xaxes(title=f"{units.name(unit)} (whiskers p5–p95)")
    return _layout(fig, "Durations", height=MIN_HEIGHT_PX)


def duration_by_process_chart(duration_by_process: Mapping[str, Mapping[str, float | None]], top: int = 25,
                              unit: str = "min") -> go.Figure:
    """Median duration per process (the most frequent `top`), with the min–max range as whiskers,
    in `unit` (the figures are in minutes)."""
    rows = sorted(
        duration_by_process.items(), key=lambda kv: (-(finite(kv[1].get("count")) or 0), str(kv[0]))
    )[:top]
    medians = [_scaled(s.get("median"), unit) for _, s in rows]
    lows = [_scaled(s.get("min"), unit) for _, s in rows]
    highs = [_scaled(s.get("max"), unit) for _, s in rows]
    fig = go.Figure(
        go.Bar(
            x=medians,
            y=[safe_label(p) for p, _ in rows],
            orientation="h",
            marker_color=MODEL_COLOR,
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [(h - m) if h is not None and m is not None else 0 for h, m in zip(highs, medians, strict=True)],
                "arrayminus": [(m - lo) if lo is not None and m is not None else 0 for lo, m in zip(lows, medians, strict=True)],
                "color": RANGE_COLOR,
            },
            customdata=[[lo, h, finite(s.get("count"))] for (_, s), lo, h in zip(rows, lows, highs, strict=True)],
            hovertemplate=f"%{{y}}: median %{{x:.3g}} {unit} (range %{{customdata[0]:.3g}}–%{{customdata[1]:.3g}}, "
                          "n=%{customdata[2]})<extra></extra>",
        )
    )
    fig.update_xaxes(title=f"{units.name(unit)} (median, whiskers min–max)")
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, "Duration per process", height=_height(len(rows)))


def process_frequency_chart(frequency: Mapping[str, int], top: int = 30) -> go.Figure:
    """Horizontal bars: how often each process occurs, most frequent on top."""
    ordered = sorted(frequency.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))[:top]
    fig = go.Figure(
        go.Bar(
            x=[int(v) for _, v in ordered],
            y=[safe_label(p) for p, _ in ordered],
            orientation="h",
            marker_color=MODEL_COLOR,
            hovertemplate="%{y}: %{x} operations<extra></extra>",
        )
    )
    fig.update_xaxes(title="operations")
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, "Process frequency", height=_height(len(ordered)))


def transition_heatmap(transitions: Sequence[Mapping[str, object]]) -> go.Figure:
    """Heat map of A → B counts (rows: from, columns: to); processes ordered by how often they take part."""
    weight: dict[str, int] = {}
    for t in transitions:
        for end in ("from", "to"):
            weight[str(t[end])] = weight.get(str(t[end]), 0) + int(t["count"])
    order = sorted(weight, key=lambda p: (-weight[p], p))
    index = {p: i for i, p in enumerate(order)}
    z: list[list[int | None]] = [[None] * len(order) for _ in order]
    for t in transitions:
        z[index[str(t["from"])]][index[str(t["to"])]] = int(t["count"])
    labels = [safe_label(p) for p in order]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            colorscale="Blues",
            hoverongaps=False,
            hovertemplate="%{y} → %{x}: %{z}<extra></extra>",
            colorbar={"title": "count"},
        )
    )
    fig.update_xaxes(title="to", type="category")
    fig.update_yaxes(title="from", type="category", autorange="reversed")
    return _layout(fig, "Most common transitions (A → B)", height=_height(len(order)) + 80)


def zoomed_range(values: Sequence[float | None], floor: float = 0.0, ceiling: float = 1.0) -> list[float]:
    """A y range around the values, so a 90.5 vs 91.7 % difference shows (not 0–1 when they sit close).

    Padded by half the spread (at least 0.02), clipped to [floor, ceiling] (a little above the
    ceiling, so a value at 1.0 keeps its label)."""
    known = [v for v in values if v is not None]
    if not known:
        return [floor, ceiling]
    low, high = min(known), max(known)
    pad = max(0.02, (high - low) * 0.5)
    return [max(floor, low - pad), min(ceiling + 0.05 * (ceiling - floor), high + pad)]


def _pinned(values: Sequence[float | None], span: Sequence[float]) -> tuple[list, list]:
    """Values drawn inside `span`: those outside sit on its edge, pointing the way they lie
    (a triangle), so a far baseline does not stretch the axis back to 0–1."""
    shown, symbols = [], []
    for v in values:
        if v is None:
            shown.append(None)
            symbols.append("line-ew-open")
        elif v < span[0]:
            shown.append(span[0])
            symbols.append("triangle-down")
        elif v > span[1]:
            shown.append(span[1])
            symbols.append("triangle-up")
        else:
            shown.append(v)
            symbols.append("line-ew-open")
    return shown, symbols


def metrics_comparison_chart(
    rows: Sequence[Mapping[str, object]],
    metrics: Sequence[str],
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """One panel per metric: a dot per version, and that version's best baseline as a grey mark.

    rows: [{"version": str, "values": {metric: float}, "baseline": {metric: float}, "baseline_name": str}].
    Panels sit two to a row (their titles stay apart at phone width). Each panel's axis is zoomed
    to the versions' values (zoomed_range), so 0.906 against 0.922 shows; a baseline outside that
    range is drawn on the panel's edge as a triangle pointing to where it lies (its hover says the
    value). Dots, not bars: a bar on an axis that does not start at 0 would exaggerate.
    """
    labels = dict(labels or {})
    n_cols = min(2, max(len(metrics), 1))
    n_rows = max(1, math.ceil(len(metrics) / n_cols))
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        subplot_titles=[labels.get(m, m) for m in metrics],
        horizontal_spacing=0.12,
        vertical_spacing=0.3 / n_rows if n_rows > 1 else 0.0,
    )
    versions = [safe_label(r["version"]) for r in rows]
    for i, metric in enumerate(metrics):
        row, col = i // n_cols + 1, i % n_cols + 1
        values = [finite(dict(r.get("values") or {}).get(metric)) for r in rows]
        base = [finite(dict(r.get("baseline") or {}).get(metric)) for r in rows]
        span = zoomed_range(values if any(v is not None for v in values) else base)
        shown, symbols = _pinned(base, span)
        fig.add_trace(
            go.Scatter(
                x=versions,
                y=values,
                name="model",
                legendgroup="model",
                showlegend=i == 0,
                mode="markers+text",
                marker={"color": MODEL_COLOR, "size": 14},
                text=[f"{v:.3f}" if v is not None else "—" for v in values],
                textposition="middle right",
                hovertemplate="%{x}: %{y:.3f}<extra>model</extra>",
            ),
            row=row,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=versions,
                y=shown,
                name="best baseline",
                legendgroup="baseline",
                showlegend=i == 0,
                mode="markers",
                # an open symbol is drawn in the marker's colour: set it, or each panel picks its own
                marker={"symbol": symbols, "size": [36 if s == "line-ew-open" else 14 for s in symbols],
                        "color": BASELINE_COLOR, "line": {"width": 3, "color": BASELINE_COLOR}},
                customdata=[[safe_label(r.get("baseline_name") or "baseline"), b if b is not None else float("nan")]
                            for r, b in zip(rows, base, strict=True)],
                hovertemplate="%{x}: %{customdata[1]:.3f}<extra>%{customdata[0]}</extra>",
            ),
            row=row,
            col=col,
        )
        fig.update_yaxes(range=span, tickformat=".3f", nticks=5, row=row, col=col)
        fig.update_xaxes(type="category", row=row, col=col)
    return _layout(
        fig, "Metrics by version",
        height=60 + 260 * n_rows, legend={"orientation": "h", "y": -0.12},
        title_font_size=14,
    )


def paired_difference_chart(rows: Sequence[Mapping[str, object]]) -> go.Figure:
    """Differences in percentage points with their 95 % intervals, one line per metric and version.

    rows: [{"label": str, "diff": float, "low": float, "high": float}] (points). Zero is marked:
    an interval that crosses it means the versions are not told apart on these items.
    """
    labels = [safe_label(r["label"]) for r in rows]
    diffs = [finite(r.get("diff")) for r in rows]
    lows = [finite(r.get("low")) for r in rows]
    highs = [finite(r.get("high")) for r in rows]
    fig = go.Figure(
        go.Scatter(
            x=diffs,
            y=labels,
            mode="markers",
            marker={"color": MODEL_COLOR, "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [(h - d) if h is not None and d is not None else 0 for h, d in zip(highs, diffs, strict=True)],
                "arrayminus": [(d - lo) if lo is not None and d is not None else 0
                               for lo, d in zip(lows, diffs, strict=True)],
                "color": MODEL_COLOR,
            },
            customdata=[[lo, h] for lo, h in zip(lows, highs, strict=True)],
            hovertemplate="%{y}: %{x:+.1f} points (95 %: %{customdata[0]:+.1f} to %{customdata[1]:+.1f})"
                          "<extra></extra>",
            name="difference",
        )
    )
    fig.add_vline(x=0, line_color=BASELINE_COLOR, line_dash="dash")
    fig.update_xaxes(title="difference in points (95 % interval)", zeroline=False)
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, "Differences from the first version", height=max(200, 90 + 40 * len(rows)),
                   showlegend=False)


def step_timeline_chart(steps: Sequence[Mapping[str, object]], title: str = "Steps", unit: str = "min") -> go.Figure:
    """Gantt-like bars: each step starts where the previous ends; a line shows its low–high range.

    steps: [{"seq", "process_code", "duration_min", "duration_low", "duration_high"}], in order.
    A step without an estimate is drawn with zero width and says so on hover. Times (minutes) are
    drawn in `unit`.
    Trace 0 holds the steps, trace 1 the ranges (x pairs start+low, start+high, separated by None).
    """
    start = 0.0
    starts, widths, names, hover = [], [], [], []
    range_x: list[float | None] = []
    range_y: list[str | None] = []
    for step in steps:
        duration = _scaled(step.get("duration_min"), unit)
        low, high = _scaled(step.get("duration_low"), unit), _scaled(step.get("duration_high"), unit)
        width = duration or 0.0
        name = f"{step.get('seq')} {safe_label(step.get('process_code'))}"
        starts.append(start)
        widths.append(width)
        names.append(name)
        if duration is None:
            hover.append("no time estimate")
        elif low is not None and high is not None:
            hover.append(f"{duration:.1f} {unit} (range {low:.1f}–{high:.1f})")
            range_x += [start + low, start + high, None]
            range_y += [name, name, None]
        else:
            hover.append(f"{duration:.1f} {unit}")
        start += width
    fig = go.Figure(
        go.Bar(
            base=starts,
            x=widths,
            y=names,
            orientation="h",
            marker_color=MODEL_COLOR,
            customdata=hover,
            hovertemplate="%{y}: %{customdata}<extra></extra>",
            name="estimated time",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=range_x,
            y=range_y,
            mode="lines",
            line={"color": RANGE_COLOR, "width": 2},
            name="likely range (low–high) of similar items",
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(title=f"{units.name(unit)} from start")
    fig.update_yaxes(autorange="reversed", type="category")
    fig = _layout(fig, title, height=max(250, 130 + BAR_HEIGHT_PX * len(names)), showlegend=True,
                  legend={"orientation": "h", "yanchor": "top", "y": -0.3, "x": 0, "font": {"size": 11}})
    fig.update_layout(margin={"l": 10, "r": 10, "t": 50, "b": 80})  # room for the legend below the axis title
    return fig

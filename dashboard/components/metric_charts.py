"""Plotly charts of metric points, generic over their numeric fields (TR-12, UX-2).

A point is one metric event's data. Training reports step points (`loss`, `loss_ma`, `lr`,
`grad_norm`, `step_time`, `samples_per_s`, `memory_mb`, `eta_s`) and epoch points (`epoch_loss`,
`epoch_loss_ma5`, `val_loss`) in one stream (daemon/train/metrics.py); a selftest reports
`{step, value}`. Known fields get named charts; any other numeric field gets a chart of its own.
"""
from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

# (chart title, fields drawn together); a chart appears when one of its fields has data.
CHART_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Loss", ("loss", "loss_ma", "epoch_loss", "epoch_loss_ma5", "val_loss")),
    ("Learning rate", ("lr",)),
    ("Gradient norm", ("grad_norm",)),
)
PERFORMANCE_FIELDS = ("step_time", "samples_per_s", "memory_mb", "condition_pad_tokens")
MAX_DRAWN = 5000  # points per trace; longer runs are thinned evenly (the newest point always kept)
NOT_CHARTED = {"step", "epoch", "eta_s", "skipped", "seq", "time"}
TRACE_NAMES = {
    "loss": "loss", "loss_ma": "moving average", "epoch_loss": "epoch loss",
    "epoch_loss_ma5": "epoch loss, 5-epoch average", "val_loss": "validation loss",
    "lr": "learning rate", "grad_norm": "gradient norm", "step_time": "step time (s)",
    "samples_per_s": "samples/s", "memory_mb": "memory (MB)", "condition_pad_tokens": "condition padding (tokens)",
}


def is_number(value: Any) -> bool:
    """A finite int or float (bools, None, NaN and infinities are not drawn)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def numeric_fields(points: list[dict]) -> list[str]:
    """Fields with at least one drawable value, in the order they first appear."""
    seen: dict[str, None] = {}
    for point in points:
        for key, value in point.items():
            if key not in NOT_CHARTED and key not in seen and is_number(value):
                seen[key] = None
    return list(seen)


def series(points: list[dict], field: str) -> tuple[list[float], list[float]]:
    """(x, y) of one field: x is the step where points have one, else the point's position."""
    xs: list[float] = []
    ys: list[float] = []
    for i, point in enumerate(points, start=1):
        value = point.get(field)
        if is_number(value):
            step = point.get("step")
            xs.append(step if is_number(step) else i)
            ys.append(value)
    return xs, ys


def thin(xs: list[float], ys: list[float], limit: int = MAX_DRAWN) -> tuple[list[float], list[float]]:
    """At most about `limit` evenly spaced points, the last one included (a browser stays fast)."""
    if len(xs) <= limit:
        return xs, ys
    stride = -(-len(xs) // limit)
    keep = list(range(0, len(xs) - 1, stride)) + [len(xs) - 1]
    return [xs[i] for i in keep], [ys[i] for i in keep]


def break_gaps(xs: list[float], ys: list[float], spacing: float = 1) -> tuple[list, list]:
    """A None between points further apart than `spacing` steps, so a line is never drawn across
    steps with no value (a skipped non-finite step, or a step not logged)."""
    out_x: list = []
    out_y: list = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        if i and x - xs[i - 1] > spacing:
            out_x.append(None)
            out_y.append(None)
        out_x.append(x)
        out_y.append(y)
    return out_x, out_y


def chart_groups(points: list[dict], *, performance: bool = False) -> list[tuple[str, list[str]]]:
    """The charts to draw: the known groups present, then every other numeric field alone.

    Performance fields (step time, samples/s, memory, the condition padding of a batch) are left
    out unless `performance`.
    """
    fields = numeric_fields(points)
    groups = []
    claimed = set(PERFORMANCE_FIELDS)
    for title, members in CHART_GROUPS:
        present = [f for f in members if f in fields]
        claimed.update(members)
        if present:
            groups.append((title, present))
    groups += [(TRACE_NAMES.get(f, f), [f]) for f in fields if f not in claimed]
    if performance:
        groups += [(TRACE_NAMES[f], [f]) for f in PERFORMANCE_FIELDS if f in fields]
    return groups


def figure(title: str, points: list[dict], fields: list[str], height: int = 300) -> go.Figure:
    """One line chart with a trace per field, against the step."""
    fig = go.Figure()
    drawn: list[float] = []
    for field in fields:
        all_x, all_y = series(points, field)
        xs, ys = thin(all_x, all_y)
        sparse = field.startswith(("epoch_", "val_")) or len(xs) < 30
        if not field.startswith(("epoch_", "val_")):  # epoch points are apart by design
            xs, ys = break_gaps(xs, ys, spacing=-(-len(all_x) // max(len(xs), 1)))
        drawn += [y for y in ys if y is not None]
        fig.add_trace(go.Scatter(x=xs, y=ys, name=TRACE_NAMES.get(field, field), connectgaps=False,
                                 mode="lines+markers" if sparse else "lines"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_title="step", legend=dict(orientation="h", y=-0.25), showlegend=len(fields) > 1)
    if fields == ["lr"]:
        fig.update_yaxes(exponentformat="e")
    if drawn and min(drawn) == max(drawn):  # a constant: around its value, not plotly's -1..1 around it
        value = drawn[0]
        pad = abs(value) * 0.5 or 1.0
        fig.update_yaxes(range=[value - pad, value + pad])
    return fig


def latest(points: list[dict], field: str) -> Any:
    """The newest drawable value of a field, or None."""
    for point in reversed(points):
        if is_number(point.get(field)):
            return point[field]
    return None

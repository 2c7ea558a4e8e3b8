"""Charts as inline SVG strings, so HTML reports are self-contained (no scripts, no network, no image files).

One place for every report's charts: provider feedback and the system-wide report use the same look.
matplotlib is imported lazily (it is slow to import and never needed at DAG parse time).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

PALETTE = ["#005EB8", "#41B6E6", "#AE2573", "#ED8B00", "#009639", "#768692", "#330072", "#DA291C"]  # NHS colours


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "svg.fonttype": "none", "axes.prop_cycle": plt.cycler(color=PALETTE)})
    return plt


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    _pyplot().close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog so it can be inlined in HTML


def line_chart(series: Mapping[str, Sequence[float | None]], x_labels: Sequence[str], *, title: str = "",
               y_label: str = "", y_max: float | None = None, width: float = 7.0, height: float = 3.0) -> str:
    """One line per series over shared x labels (e.g. a score per dimension over the last loads)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width, height))
    for name, values in series.items():
        ax.plot(list(x_labels), [float("nan") if v is None else v for v in values], marker="o", label=name)
    ax.set_title(title, loc="left")
    ax.set_ylabel(y_label)
    if y_max is not None:
        ax.set_ylim(0, y_max)
    if len(series) > 1:
        ax.legend(frameon=False, fontsize=8, ncol=min(len(series), 4))
    ax.tick_params(axis="x", labelrotation=30)
    return _svg(fig)


def bar_chart(values: Mapping[str, float], *, title: str = "", x_label: str = "", horizontal: bool = True,
              width: float = 7.0, height: float | None = None) -> str:
    """Bars for labelled values (e.g. failures by rule); horizontal by default so long labels stay readable."""
    plt = _pyplot()
    labels, numbers = list(values), [float(v) for v in values.values()]
    fig, ax = plt.subplots(figsize=(width, height or max(1.6, 0.35 * len(labels) + 0.8)))
    if horizontal:
        ax.barh(labels[::-1], numbers[::-1], color=PALETTE[0])
        ax.set_xlabel(x_label)
    else:
        ax.bar(labels, numbers, color=PALETTE[0])
        ax.set_ylabel(x_label)
        ax.tick_params(axis="x", labelrotation=30)
    ax.set_title(title, loc="left")
    return _svg(fig)


def stacked_bar_chart(stacks: Mapping[str, Mapping[str, float]], *, title: str = "", y_label: str = "",
                      width: float = 7.0, height: float = 3.2) -> str:
    """Stacked bars: ``{x label: {segment: value}}`` (e.g. incidents per month by worst harm)."""
    plt = _pyplot()
    x_labels = list(stacks)
    segments: list[str] = []
    for parts in stacks.values():
        segments += [s for s in parts if s not in segments]
    fig, ax = plt.subplots(figsize=(width, height))
    bottom = [0.0] * len(x_labels)
    for i, segment in enumerate(segments):
        heights = [float(stacks[x].get(segment, 0)) for x in x_labels]
        ax.bar(x_labels, heights, bottom=bottom, label=segment, color=PALETTE[i % len(PALETTE)])
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_title(title, loc="left")
    ax.set_ylabel(y_label)
    ax.legend(frameon=False, fontsize=8, ncol=min(len(segments), 5))
    ax.tick_params(axis="x", labelrotation=30)
    return _svg(fig)

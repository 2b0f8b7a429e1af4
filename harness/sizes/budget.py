"""Size limits: an image within its budget (absolute bytes), and its growth against a baseline within the
allowance (bytes and percent), with the layer that grew most named in the message."""

from __future__ import annotations

from harness.recipes import Budget
from harness.sizes.history import Baseline, SizeRecord
from harness.sizes.measure import ImageSize, LayerSize
from harness.units import format_size

_STEP_CHARS = 100  # a RUN step can be a page long; a message quotes the start


def over_budget(size: ImageSize, budget: Budget) -> list[str]:
    """Each way ``size`` exceeds ``budget``, as a sentence naming both numbers; empty when within."""
    problems = []
    for kind in ("unpacked", "compressed"):
        limit = getattr(budget, kind)
        actual = getattr(size, kind)
        if limit is not None and actual > limit:
            problems.append(
                f"{kind} size {format_size(actual)} ({actual} bytes) is over the budget of "
                f"{format_size(limit)} ({limit} bytes) by {format_size(actual - limit)}"
            )
    return problems


def growth_problems(current: SizeRecord, baseline: Baseline | None, budget: Budget) -> list[str]:
    """Each way ``current`` grew more than ``budget`` allows against ``baseline``, as a sentence; [] when within."""
    if baseline is None:
        return []
    problems = []
    for kind in ("unpacked", "compressed"):
        before, after = getattr(baseline.record, kind), getattr(current, kind)
        exceeded = _exceeded_limits(before, after, budget)
        if exceeded:
            problems.append(
                f"{current.recipe}: {kind} size grew from {format_size(before)} to {format_size(after)} "
                f"({format_delta(before, after)}), over the allowed growth of {' and '.join(exceeded)} "
                f"(baseline: {baseline.source}); {_grew_most_text(current, baseline.record, kind)}"
            )
    return problems


def _exceeded_limits(before: int, after: int, budget: Budget) -> list[str]:
    delta = after - before
    percent = growth_percent(before, after)
    exceeded = []
    if budget.growth_bytes is not None and delta > budget.growth_bytes:
        exceeded.append(format_size(budget.growth_bytes))
    if budget.growth_percent is not None and delta > 0 and (percent is None or percent > budget.growth_percent):
        exceeded.append(f"{budget.growth_percent:g}%")
    return exceeded


def growth_percent(before: int, after: int) -> float | None:
    """Growth from ``before`` to ``after`` in percent; None when ``before`` is 0."""
    return None if before == 0 else (after - before) * 100 / before


def format_delta(before: int, after: int) -> str:
    """A signed change with percent, e.g. "+1.18 MB, +21.0%"."""
    delta = after - before
    percent = growth_percent(before, after)
    text = ("+" if delta > 0 else "") + format_size(delta)
    return text if percent is None else f"{text}, {percent:+.1f}%"


def layer_growth(current: SizeRecord, before: SizeRecord, kind: str = "unpacked") -> list[tuple[LayerSize, int]]:
    """Each layer of ``current`` with the bytes (``kind``) it gained over its match in ``before``.

    A layer matches the unmatched layer of ``before`` with the same build step (BuildKit's created_by),
    else the one at the same position; a layer with no match is new and counts from 0.
    """
    unused = dict(enumerate(before.layers))
    matches: dict[int, LayerSize] = {}
    for index, layer in enumerate(current.layers):
        found = next((i for i, old in unused.items() if layer.created_by and old.created_by == layer.created_by),
                     None)
        if found is not None:
            matches[index] = unused.pop(found)
    for index in range(len(current.layers)):
        if index not in matches and index in unused:
            matches[index] = unused.pop(index)
    return [
        (layer, getattr(layer, kind) - (getattr(matches[index], kind) if index in matches else 0))
        for index, layer in enumerate(current.layers)
    ]


def grew_most(current: SizeRecord, before: SizeRecord, kind: str = "unpacked") -> tuple[LayerSize, int] | None:
    """The layer of ``current`` that gained the most bytes over ``before``, or None when none grew."""
    best = max(layer_growth(current, before, kind), key=lambda pair: pair[1], default=None)
    return best if best is not None and best[1] > 0 else None


def describe_layer(layer: LayerSize) -> str:
    """A layer as people recognise it: its build step (shortened), else its digest."""
    step = " ".join(layer.created_by.split())
    if not step:
        return f"layer {layer.digest[:19] or '(no digest)'}"
    return step if len(step) <= _STEP_CHARS else step[: _STEP_CHARS - 3] + "..."


def _grew_most_text(current: SizeRecord, before: SizeRecord, kind: str) -> str:
    found = grew_most(current, before, kind)
    if found is None:
        return "no layer grew (only the config or metadata did)" if current.layers else "layer sizes unknown"
    layer, delta = found
    return f"the layer that grew most: `{describe_layer(layer)}` (+{format_size(delta)})"

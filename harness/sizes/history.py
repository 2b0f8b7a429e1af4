"""Size records: what each run measured (reports/sizes.json), the history of runs, and baselines.

The history is JSON Lines, one record per recipe per run, only ever appended to: it is the users' record of
how their images grew, kept by CI as an artifact or on a branch, so nothing here rewrites it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import RvconformError
from harness.sizes.measure import ImageSize, LayerSize


@dataclass(frozen=True)
class SizeRecord:
    """The sizes of one recipe's image in one run, and the git revision and time of that run."""

    recipe: str
    ref: str
    digest: str
    platform: str
    compressed: int
    unpacked: int
    layers: tuple[LayerSize, ...] = ()
    revision: str = ""
    branch: str = ""
    time: str = ""

    @property
    def layer_count(self) -> int:
        """Number of layers."""
        return len(self.layers)

    @property
    def largest_layer(self) -> LayerSize | None:
        """The layer that added the most unpacked bytes, or None without layers."""
        return max(self.layers, key=lambda layer: layer.unpacked, default=None)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; layer_count and largest_layer are derived, for people reading sizes.json."""
        largest = self.largest_layer
        return {
            "recipe": self.recipe, "ref": self.ref, "digest": self.digest, "platform": self.platform,
            "compressed": self.compressed, "unpacked": self.unpacked,
            "layer_count": self.layer_count,
            "largest_layer": None if largest is None else {"created_by": largest.created_by,
                                                           "unpacked": largest.unpacked},
            "layers": [{"digest": layer.digest, "compressed": layer.compressed, "unpacked": layer.unpacked,
                        "created_by": layer.created_by} for layer in self.layers],
            "revision": self.revision, "branch": self.branch, "time": self.time,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SizeRecord:
        """The record ``to_json`` wrote; derived and unknown keys are ignored. KeyError/TypeError when invalid."""
        layers = tuple(
            LayerSize(str(layer["digest"]), int(layer["compressed"]), int(layer["unpacked"]),
                        str(layer.get("created_by", "")))
            for layer in data.get("layers", [])
        )
        return cls(
            recipe=str(data["recipe"]), ref=str(data.get("ref", "")), digest=str(data.get("digest", "")),
            platform=str(data.get("platform", "")), compressed=int(data["compressed"]),
            unpacked=int(data["unpacked"]), layers=layers, revision=str(data.get("revision", "")),
            branch=str(data.get("branch", "")), time=str(data.get("time", "")),
        )


def record_from(recipe: str, ref: str, digest: str, platform: str, size: ImageSize,
                revision: str, branch: str, time: str) -> SizeRecord:
    """The record of one measured image (``harness.sizes.measure.measure``) in the run at ``revision`` and ``time``."""
    return SizeRecord(recipe, ref, digest, platform, size.compressed, size.unpacked, size.layers,
                      revision, branch, time)


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string, e.g. 2026-11-25T10:00:00Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_sizes(path: Path, records: Iterable[SizeRecord]) -> None:
    """Write ``records`` to ``path`` (sizes.json) as a pretty-printed JSON list sorted by recipe, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps([r.to_json() for r in sorted(records, key=lambda r: r.recipe)], indent=2) + "\n"
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def append_history(path: Path, records: Iterable[SizeRecord]) -> None:
    """Append ``records`` to the JSON Lines history at ``path``, one line each; what is there stays."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r.to_json(), separators=(",", ":")) + "\n" for r in records)
    with path.open("a+b") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() > 0:
            file.seek(-1, os.SEEK_END)
            if file.read(1) != b"\n":
                # A run killed mid-write leaves a partial line; ours must not be glued onto it.
                lines = "\n" + lines
        # One write in append mode, so concurrent writers interleave whole batches, not bytes.
        file.write(lines.encode("utf-8"))


def load_history(path: Path) -> list[SizeRecord]:
    """Every record in the history at ``path``, in file order; [] when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                records.append(SizeRecord.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise RvconformError(
                    f"{path}:{number}: not a size record ({type(error).__name__}: {error})",
                    fix=f"repair or delete line {number} of {path}; the other lines are kept as they are",
                ) from None
    return records


@dataclass(frozen=True)
class Baseline:
    """The record a recipe's size is compared with, and where it came from (for messages)."""

    record: SizeRecord
    source: str


def baseline_from_history(history: list[SizeRecord], recipe: str, branch: str) -> Baseline | None:
    """The last record of ``recipe`` on ``branch`` in ``history`` (file order), or None."""
    for record in reversed(history):
        if record.recipe == recipe and record.branch == branch:
            where = f"{branch}@{record.revision[:7]}" if record.revision else branch or "(no branch)"
            return Baseline(record, f"{where} {record.time}".strip())
    return None


def load_pinned_baselines(path: Path) -> dict[str, Baseline]:
    """The baselines in a pinned sizes.json file, by recipe."""
    path = Path(path)
    fix = "point --baseline at a sizes.json written by `rvconform run` (reports/sizes.json), or leave it out"
    if not path.is_file():
        raise RvconformError(f"pinned baseline file {path} does not exist", fix=fix)
    try:
        records = [SizeRecord.from_json(item) for item in json.loads(path.read_text(encoding="utf-8"))]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RvconformError(f"{path} is not a sizes.json list of size records ({error})", fix=fix) from None
    return {record.recipe: Baseline(record, f"pinned {path}") for record in records}


def latest_with_baselines(history: list[SizeRecord], branch: str) -> tuple[list[SizeRecord], dict[str, Baseline]]:
    """The latest record of each recipe, and for each the last record on ``branch`` before it."""
    latest = {record.recipe: index for index, record in enumerate(history)}
    baselines = {}
    for recipe, index in latest.items():
        baseline = baseline_from_history(history[:index], recipe, branch)
        if baseline is not None:
            baselines[recipe] = baseline
    return [history[i] for i in latest.values()], baselines

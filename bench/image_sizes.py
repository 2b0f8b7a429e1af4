"""Every recipe's image size next to the reference workflow's figures (146 MB single-stage redis,
10.2 MB multi-stage redis on alpine), from a run's sizes.json.

    python bench/image_sizes.py [reports/sizes.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.units import format_size

REFERENCE_SINGLE_STAGE = 146_000_000
REFERENCE_MULTI_STAGE = 10_200_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="?", type=Path, default=Path("reports/sizes.json"))
    args = parser.parse_args()
    if not args.sizes.is_file():
        raise SystemExit(f"{args.sizes} not found: run `rvconform run` (or make run) first")
    records = json.loads(args.sizes.read_text())
    print(f"{'recipe':<14} {'unpacked':>10} {'compressed':>11} {'vs 146 MB':>10} {'vs 10.2 MB':>11}")
    for record in sorted(records, key=lambda r: r["unpacked"]):
        unpacked = record["unpacked"]
        print(f"{record['recipe']:<14} {format_size(unpacked):>10} {format_size(record['compressed']):>11} "
              f"{unpacked / REFERENCE_SINGLE_STAGE:>9.3f}x {unpacked / REFERENCE_MULTI_STAGE:>10.2f}x")
    print(f"reference: single-stage redis {format_size(REFERENCE_SINGLE_STAGE)}, "
          f"multi-stage redis {format_size(REFERENCE_MULTI_STAGE)} (docker images, the manual workflow)")


if __name__ == "__main__":
    main()

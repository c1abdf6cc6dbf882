"""Write BENCHMARKS.md from the JSON results that scripts/bench.py stages left in benchmarks/results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GOALS = {
    "generate": "`--subjects 200000` finishes in minutes with bounded memory",
    "ingest": "ingest within 2x the floor (DuckDB reading the same files, no validation); peak memory under 4 GB",
    "build": "dbt build at most 1.3x the same compiled SQL run directly in one DuckDB connection",
    "incremental": "incremental build at most 15% of the full build (after one more day of data)",
    "purge": "10,000 erasure requests in under 60 s",
    "dashboard": "median page render under 300 ms, p95 under 1 s after the cache is warm",
    "spark": "the same project on Spark: ratio DuckDB/Spark",
    "airflow": "the three DAGs through Airflow at most 1.2x `lethe run` on the same data",
}


def render(results: dict[str, dict]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Every figure below was measured by `make bench` (scripts/bench.py; one stage alone:",
        "`.venv/bin/python scripts/bench.py --only STAGE`), on the machine named with each stage.",
        "Nothing here is asserted by a test. Each stage's raw JSON is kept in `benchmarks/results/`.",
        "",
    ]
    for stage, goal in GOALS.items():
        data = results.get(stage)
        lines += [f"## {stage}", "", f"Goal: {goal}.", ""]
        if not data:
            lines += ["Not measured yet.", ""]
            continue
        lines += [
            f"- command: `{data.get('command', '?')}`",
            f"- measured: {data.get('measured_at', '?')} at `--subjects {data.get('subjects', '?')}`;"
            f" load average after: {data.get('load_average_after', '?')}",
            f"- machine: {data.get('machine', '?')}",
            "",
            "| figure | value |",
            "|---|---|",
        ]
        for key, value in data.items():
            if key in ("command", "measured_at", "machine", "subjects", "load_average_after", "stdout"):
                continue
            if isinstance(value, dict | list):
                value = json.dumps(value, default=str)
                if len(value) > 300:
                    value = value[:300] + " …"
            lines.append(f"| {key} | {value} |")
        lines.append("")
    notes = ROOT / "docs" / "benchmark-notes.md"
    if notes.exists():
        lines += ["## Notes", "", notes.read_text().strip(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    results = {p.stem: json.loads(p.read_text()) for p in sorted(args.results.glob("*.json"))}
    args.out.write_text(render(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

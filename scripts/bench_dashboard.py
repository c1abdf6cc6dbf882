"""Page render time per dashboard page and role via Streamlit AppTest on a given LETHE_HOME; prints JSON.

    .venv/bin/python scripts/bench_dashboard.py --home .bench/home [--repeat 20]

For each page: the cold first load (fresh caches), then `--repeat` warm loads: median and p95 (ms).
The snapshot must already be published (`lethe publish`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = {
    "overview": "dpo",
    "retention": "dpo",
    "consent": "dpo",
    "risk": "dpo",
    "audiences": "dpo",
    "requests": "dpo",
    "intake": "engineer",
    "quality": "engineer",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="LETHE_HOME with a published snapshot")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--password-file", help="YAML of role: password (default: the demo passwords)")
    args = parser.parse_args()
    os.environ["LETHE_HOME"] = str(Path(args.home).resolve())
    sys.path.insert(0, str(ROOT / "dashboards"))
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from lethe.settings import get_settings

    get_settings.cache_clear()
    if not get_settings().snapshot.exists():
        print(
            f"bench_dashboard: no snapshot at {get_settings().snapshot}: run lethe publish", file=sys.stderr
        )
        return 1
    results: dict[str, dict[str, float]] = {}
    sessions: dict[str, AppTest] = {}
    for page, role in PAGES.items():
        if role not in sessions:
            at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=300)
            at.run()
            at.text_input[0].input(role)
            at.text_input[1].input(f"lethe-{role}")
            at.button[0].click()
            at.run()
            sessions[role] = at
        at = sessions[role]
        st.cache_data.clear()
        st.cache_resource.clear()
        at.switch_page(f"app_pages/{page}.py")
        start = time.perf_counter()
        at.run()
        cold = (time.perf_counter() - start) * 1000
        if at.exception:
            print(f"bench_dashboard: {page}: {at.exception[0].message}", file=sys.stderr)
            return 1
        warm = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            at.run()
            warm.append((time.perf_counter() - start) * 1000)
        warm.sort()
        results[page] = {
            "role": role,
            "cold_ms": round(cold, 1),
            "median_ms": round(statistics.median(warm), 1),
            "p95_ms": round(warm[min(len(warm) - 1, int(0.95 * len(warm)))], 1),
        }
    print(json.dumps({"snapshot_bytes": get_settings().snapshot.stat().st_size, "pages": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

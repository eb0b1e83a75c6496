"""The benchmark harness runs end to end in quick mode and reports every row.

Nothing here is about speed: the machine running the tests is shared and noisy. It checks that
``python -m bench --quick`` completes, prints the Markdown table and writes well-formed JSON with a
row per target (a store row may say why it was skipped, e.g. no redis-server), numbers where a
row was measured, and a PASS/MISS/N/A verdict for every budget line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = ["upstream (direct)", "reference forwarder", "gateway (memory)", "gateway (redis)", "gateway (upstash)"]
MEASURED = ["lat_p50_ms", "lat_p99_ms", "rps", "tp_p50_ms", "tp_p99_ms", "cpu_ms_per_req", "cpu_ms_per_req_c1", "stream_cpu_ms_per_req",
            "streams_per_s", "ttfc_ms", "stream_total_ms",
            "rss_mb"]
DOORS = ["shared.app", "api.index", "functions.aws.handler", "functions.gcp.main"]


def test_quick_benchmark_produces_every_row(tmp_path):
    if shutil.which("wrk") is None:  # fail loudly, like the store tests without redis-server: CI must install it
        pytest.fail("wrk is not installed, and the benchmark needs it: apt-get install -y wrk (CI's .ci/run does this)",
                    pytrace=False)
    out = tmp_path / "latest.json"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN")}
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"bench failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"

    # The table on stdout, with a line per row.
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| target |"))
    assert "CPU ms/req" in header and "added p50 ms" in header and "1st chunk ms" in header
    for name in ROWS:
        assert any(line.startswith(f"| {name}") for line in proc.stdout.splitlines()), name
    assert (tmp_path / "latest.md").read_text().strip() == proc.stdout.strip()

    result = json.loads(out.read_text())
    assert result["meta"]["mode"] == "quick"
    rows = {row["name"]: row for row in result["rows"]}
    assert list(rows)[: len(ROWS)] == ROWS
    for name in ROWS:
        row = rows[name]
        if not row["available"]:
            assert row["skipped"], name  # a skipped row says why
            continue
        assert not row.get("error"), (name, row.get("error"))
        for key in MEASURED:
            assert isinstance(row.get(key), (int, float)) and row[key] >= 0, (name, key, row.get(key))
        if row["kind"] != "direct":
            assert isinstance(row.get("added_p50_ms"), (int, float)), name
            assert isinstance(row.get("added_ttfc_ms"), (int, float)), name
            assert isinstance(row.get("cold_start_ms"), (int, float)) and row["cold_start_ms"] > 0, name
            assert row.get("buffered") in (True, False), name
        if row["kind"] == "gateway":
            assert isinstance(row.get("store_ops_per_req"), (int, float)), name
    assert rows["gateway (memory)"]["available"] and rows["gateway (memory)"]["store_ops_per_req"] == 0
    assert rows["upstream (direct)"]["rps"] > 0

    assert [d["module"] for d in result["imports"]] == DOORS
    for door in result["imports"]:
        assert ("total_ms" in door) or door.get("skipped") or door.get("error"), door
    assert rows and result["budget"], "no budget lines"
    for line in result["budget"]:
        assert line["status"] in ("PASS", "MISS", "N/A"), line
        assert f"**{line['status']}** {line['line']}" in proc.stdout

"""The benchmark harness itself, on fake measurements: statistics, targets, reports, args.

Nothing here starts an engine or a node; it checks that what ``scripts/bench`` computes and
writes from its measurements is right, so a wrong ratio or a broken report fails here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import bare, main, report
from bench.stats import Figure, Stat, Target, paired_ratios, percentile

RING_OUTPUT = """hello: rank 0 of 2 on node-1-0 (10.213.1.4)
hello: rank 1 of 2 on node-1-1 (10.213.1.5)
ring: ranks=2 iterations=0 token=1 usec_per_hop=0.00
pingpong: bytes=8 iterations=3000 latency_usec=23.05
pingpong: bytes=1048576 iterations=300 bandwidth_MBps=667.5
"""


def test_stat_summarizes_median_min_max() -> None:
    stat = Stat.of([3.0, 1.0, 2.0, 10.0])
    assert (stat.median, stat.min, stat.max, stat.n) == (2.5, 1.0, 10.0, 4)
    with pytest.raises(ValueError):
        Stat.of([])


def test_ratios_are_paired_per_repetition() -> None:
    ratios = paired_ratios([2.0, 3.0, 12.0], [1.0, 2.0, 4.0])
    assert (ratios.median, ratios.min, ratios.max) == (2.0, 1.5, 3.0)
    with pytest.raises(ValueError):
        paired_ratios([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        paired_ratios([1.0], [0.0])


def test_percentile_interpolates() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize(("target", "value", "met"), [
    (Target("<=", 1.25), 1.25, True), (Target("<=", 1.25), 1.26, False),
    (Target(">=", 100), 99.9, False), (Target(">=", 100), 150, True),
    (Target("~", 1.0, 0.05), 1.049, True), (Target("~", 1.0, 0.05), 0.94, False),
])
def test_targets(target: Target, value: float, met: bool) -> None:
    assert target.met(value) is met


def test_headline_is_ratio_then_worst_then_value() -> None:
    plain = Figure("a", "a", "s", Stat.of([5.0]), target=Target("<=", 4))
    ratio = Figure("b", "b", "s", Stat.of([2.0]), Stat.of([1.0]), Stat.of([2.0]))
    worst = Figure("c", "c", "ms", Stat.of([10.0, 90.0]), worst=90.0, target=Target("<=", 50))
    assert (plain.headline, plain.met) == (5.0, False)
    assert (ratio.headline, ratio.met) == (2.0, None)
    assert (worst.headline, worst.met) == (90.0, False)


def fake_figures() -> list[Figure]:
    return [
        Figure("mi_overhead_ratio", "mi", "s", Stat.of([2.6, 2.8]), Stat.of([2.0, 2.0]),
               paired_ratios([2.6, 2.8], [2.0, 2.0]), Target("<=", 1.25), note="by hand"),
        Figure("submit_tasks_per_s", "submit", "tasks/s", Stat.of([250.0]),
               target=Target(">=", 100)),
        Figure("engine_rss_mb", "engine", "MB", Stat.of([80.0])),
    ]


def test_report_writes_table_json_and_before(tmp_path: Path) -> None:
    run = report.Run("2026-01-01 00:00 UTC", "scripts/bench --quick", True, 12.0)
    report.write(tmp_path, fake_figures(), run)
    report.write(tmp_path, fake_figures(), run)  # the second run sees the first as "before"
    md = (tmp_path / "results.md").read_text()
    row = next(line for line in md.splitlines() if "`mi_overhead_ratio`" in line)
    assert "| 1.35 (1.3..1.4, n=2) | <= 1.25 | **no** |" in row
    assert "`scripts/bench --quick`" in row and row.count("2026-01-01") == 1
    assert "| 1.35 | 2026" in row  # the previous run's headline, in "before"
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["summary"]["mi_overhead_ratio"] == 1.35
    assert data["summary"]["met"] == {"mi_overhead_ratio": False, "submit_tasks_per_s": True}


def test_summary_has_every_key_and_only_numbers_as_headlines() -> None:
    run = report.Run("d", "c", False)
    out = report.summary(fake_figures(), run)
    assert {"mi_overhead_ratio", "submit_tasks_per_s", "engine_rss_mb", "met"} <= set(out)
    assert json.loads(json.dumps(out)) == out


def test_pingpong_parsing() -> None:
    assert bare.pingpong(RING_OUTPUT) == (23.05, 667.5)
    with pytest.raises(ValueError):
        bare.pingpong("hello: rank 0 of 1\n")


def test_mca_options_name_each_parameter_once() -> None:
    args = bare.mca_args()
    names = args[1::3]
    assert args[0::3] == ["--mca"] * len(names)
    assert len(names) == len(set(names)) and "btl_tcp_if_include" in names


def test_args_and_plans() -> None:
    quick = main.plan_for(main.parse_args(["--quick", "--json"]))
    assert quick.rss_nodes == (2, 4) and quick.task_sizes == (1000,)
    full = main.plan_for(main.parse_args([]))
    assert 16 in full.rss_nodes and 5000 in full.task_sizes and full.reps > quick.reps
    assert main.plan_for(main.parse_args(["--reps", "2"])).reps == 2
    with pytest.raises(SystemExit):
        main.parse_args(["--reps", "0"])


def test_scaling_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from bench.figures import Points
    from bench.plot import scaling_png

    points = Points(pool_ready={2: (10.0, 5.0), 4: (20.0, 6.0), 16: (70.0, 9.0)},
                    per_task={100: (0.5, 0.04), 1000: (0.8, 0.04), 5000: (1.5, 0.04)})
    scaling_png(points, tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_cli_start_proxy_notes_each_request_and_passes_it_on(tmp_path: Path) -> None:
    import http.client
    import os
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from bench import clistart

    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = self.path.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with clistart.Proxy(("127.0.0.1", upstream.server_address[1])) as proxy:
            proxy.watched = os.getpid()
            conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
            for path in ("/pools", "/pools/mi?x=1"):
                conn.request("GET", path)
                assert conn.getresponse().read() == path.encode()
            conn.close()
            seen = proxy.take()
        assert [a.line for a in seen] == ["GET /pools HTTP/1.1", "GET /pools/mi?x=1 HTTP/1.1"]
        assert seen[0].at <= seen[1].at and seen[0].cpu > 0
        state = {"url": "http://127.0.0.1:1", "pid": 1, "key": "k"}
        (tmp_path / "engine.json").write_text(json.dumps(state))
        view = clistart.view_dir(tmp_path, proxy.url, tmp_path / "view")
        assert json.loads((view / "engine.json").read_text()) == {**state, "url": proxy.url}
    finally:
        upstream.shutdown()
        upstream.server_close()

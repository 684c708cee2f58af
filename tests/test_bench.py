"""The benchmark's own helpers: reading wrk's output, ratios, targets, page assets.

No timings are asserted here: `make bench` measures, the test suite only checks the
arithmetic and parsing the measurements go through.
"""

import ast
import functools
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import bench
from bench.pages import cookie_header, median_and_largest, over_limit, referenced_assets
from bench.profile import parse_raw
from bench.report import Figure, Target, markdown_table, number, ratio, text_table
from bench.wrk import WrkError, parse_wrk_output, wrk_command
from kiosk import emails

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8120/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    20.12ms   12.40ms 130.00ms   80.00%
  3770 requests in 10.00s, 40.00MB read
Requests/sec:    377.00
BENCH_JSON {"requests": 3770, "duration_us": 10000000, "bytes": 41943040, "p50_us": 18800, \
"p95_us": 54200, "p99_us": 124000, "max_us": 130000, "ok": 3768, "bad_status": 2, \
"first_bad_status": 400, "socket_errors": 1}
"""


def test_wrk_output_is_read_from_the_bench_json_line() -> None:
    result = parse_wrk_output(WRK_OUTPUT)

    assert result.requests == 3770
    assert result.rps == pytest.approx(377.0)
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (18.8, 54.2, 124.0)


def test_wrk_errors_add_bad_statuses_and_socket_errors() -> None:
    result = parse_wrk_output(WRK_OUTPUT)

    assert result.errors == 3
    assert result.first_bad_status == 400


def test_wrk_output_without_a_result_line_is_an_error() -> None:
    with pytest.raises(WrkError, match="BENCH_JSON"):
        parse_wrk_output("Requests/sec: 10\n")


def test_wrk_never_gets_more_threads_than_connections() -> None:
    command = wrk_command("http://127.0.0.1:8120/", 1, 5)

    assert "-t1" in command and "-c1" in command and "-d5s" in command


def test_ratio_divides_by_the_floor_and_gives_none_without_one() -> None:
    assert ratio(377.0, 3513.0) == pytest.approx(0.1073, abs=1e-4)
    assert ratio(377.0, 0.0) is None
    assert ratio(None, 3513.0) is None


def test_a_floor_target_judges_the_ratio_not_the_value() -> None:
    figure = Figure("req/s", 2000.0, "req/s", floor=3000.0, target=Target(">=", 0.5, of_floor=True))

    assert figure.verdict == "met"
    assert str(figure.target) == ">= 0.5× floor"


def test_a_missed_target_says_so() -> None:
    figure = Figure("p95", 54.2, "ms", target=Target("<", 50, "ms"))

    assert figure.verdict == "MISSED"


def test_a_figure_without_a_value_is_not_measured() -> None:
    assert Figure("export", None, "s", target=Target("<", 3, "s")).verdict == "not measured"


def test_numbers_keep_three_significant_digits() -> None:
    assert number(3513.4, "req/s") == "3,513 req/s"
    assert number(18.83, "ms") == "18.8 ms"
    assert number(0.4671, "ms") == "0.467 ms"
    assert number(None) == "n/a"


def test_tables_hold_every_figure_with_its_ratio() -> None:
    figures = [
        Figure("Mixed: requests/s", 377.0, "req/s", 3513.0, Target(">=", 0.5, of_floor=True))
    ]

    assert "0.11×" in text_table(figures)
    assert "| Mixed: requests/s | 377 req/s | 3,513 req/s | 0.11× |" in markdown_table(figures)


def test_page_assets_are_stylesheets_scripts_and_images() -> None:
    html = (
        '<link rel="stylesheet" href="/static/css/kiosk.css"><link rel="icon" href="/i.png">'
        '<script src="/static/js/kiosk.js" defer></script><img src="/qr/donate.svg" alt="">'
    )

    assert referenced_assets(html) == [
        "/static/css/kiosk.css",
        "/static/js/kiosk.js",
        "/qr/donate.svg",
    ]


def test_cookie_header_sends_back_every_cookie_without_attributes() -> None:
    set_cookies = ["session=abc.def; HttpOnly; Path=/; SameSite=Lax", "kiosk_visit=x1; Path=/"]

    assert cookie_header(set_cookies) == "session=abc.def; kiosk_visit=x1"


def test_median_and_largest_fragment() -> None:
    assert median_and_largest({"a": 100, "b": 300, "c": 200}) == (200, 300)


def test_fragments_over_the_limit_are_named_largest_first() -> None:
    sizes = {"GET /faq/x closed": 900, "POST /opener": 3040, "POST /signup (422)": 4090}

    assert over_limit(sizes, 2000) == "2 over 2 KB: POST /signup (422) 4.1 KB, POST /opener 3.0 KB"
    assert over_limit({"a": 10}, 2000) == "none over the limit"


def test_server_cpu_is_shared_out_per_request() -> None:
    result = replace(parse_wrk_output(WRK_OUTPUT), server_cpu_s=7.54)

    assert result.cpu_ms_per_request == pytest.approx(2.0)


VIEW = "handler_thread (waitress/task.py:1);index (/w/kiosk/visitor.py:50)"
RAW_PROFILE = (
    f"{VIEW};do_execute (/x/site-packages/sqlalchemy/engine/default.py:9) 3\n"
    f"{VIEW};root (base.html:4) 1\n"
)


def test_a_profile_adds_samples_where_a_function_is_on_the_stack() -> None:
    profile = parse_raw(RAW_PROFILE)

    assert profile.samples == 4
    assert profile.top(profile.inclusive, 1, where="kiosk/") == [
        (100.0, "index (kiosk/visitor.py)")
    ]
    assert profile.top(profile.self_time, 1) == [
        (75.0, "do_execute (sqlalchemy/engine/default.py)")
    ]


def test_a_growth_figure_is_judged_against_the_same_figure_on_the_empty_event() -> None:
    target = Target(">=", 0.9, of_floor=True, versus="empty")
    kept_up = Figure("opener_tap req/s", 950.0, "req/s", floor=1000.0, target=target)
    slowed = Figure("opener_tap req/s", 70.0, "req/s", floor=1000.0, target=target)

    assert str(target) == ">= 0.9× empty"
    assert (kept_up.verdict, slowed.verdict) == ("met", "MISSED")


def test_the_growth_scenarios_taps_are_opener_answers_and_faq_opens_in_time_order() -> None:
    from bench.growth import tap_rows

    rows = list(tap_rows(7, "kiosk-a", 8, ["people", "hope"], ["faq-1"]))

    assert [(kind, key) for _, _, kind, key, _, _ in rows[:4]] == [
        ("opener", "people"),
        ("opener", "hope"),
        ("opener", "people"),
        ("faq_open", "faq-1"),
    ]
    assert {row[1] for row in rows} == {7} and {row[5] for row in rows} == {"kiosk-a"}
    assert [row[4] for row in rows] == sorted(row[4] for row in rows)
    assert len({row[0] for row in rows}) == 8  # a UUID each


def test_a_scenario_run_on_its_own_replaces_its_section_of_the_results(tmp_path, monkeypatch):
    from bench import report

    results = tmp_path / "results.md"
    results.write_text("# Benchmark results\n\n| table |\n\n## Reading these figures\n\nnotes\n")
    monkeypatch.setattr(report, "RESULTS", results)
    figure = Figure("Hub: p95", 12.0, "ms", 10.0, Target("<=", 1.2, of_floor=True))

    report.splice("bench.x", "X, run on its own", [figure], [], "first run")
    report.splice("bench.x", "X, run on its own", [figure], [], "second run")

    text = results.read_text()
    assert text.count("## X, run on its own") == 1
    assert "second run" in text and "first run" not in text
    assert text.index("## X, run on its own") < text.index("## Reading these figures")
    assert text.endswith("notes\n")


def test_two_hub_processes_add_their_requests_and_keep_the_slower_p95() -> None:
    from bench.hub import Setup

    one = parse_wrk_output(WRK_OUTPUT)  # 3,770 requests in 10 s, p95 54.2 ms
    slower = replace(one, p95_ms=80.0)
    setup = Setup("postgresql x2", [one, slower], kiosk_cpu_s=7.54, postgres_cpu_s=3.77)

    assert setup.rps == pytest.approx(754.0)
    assert setup.p95_ms == 80.0
    assert (setup.cpu_ms("kiosk"), setup.cpu_ms("postgres"), setup.cpu_ms()) == pytest.approx(
        (1.0, 0.5, 1.5)
    )


def test_the_sync_check_counts_a_record_the_hub_lacks_and_a_person_stored_twice() -> None:
    from kiosk.emails import digest_of_record
    from tests.test_sync_scale import TABLE_OF, bundle_of, check_hub

    # The hub keeps each person's email sealed: she is her address's digest under the key.
    person = functools.partial(digest_of_record, "ab" * 32)
    bundles = [bundle_of(n) for n in range(4)]
    first: dict[str, str] = {}
    for bundle in bundles:
        for record in bundle["signups"]:
            first.setdefault(person(record["email"]), record["uuid"])
    stored = list(first.items())
    held = {t: [r["uuid"] for b in bundles for r in b[s]] for s, t in TABLE_OF.items()}

    whole = check_hub(bundles, stored, held, person)
    assert (whole["lost"], whole["duplicated"]) == ([], [])
    assert whole["records"] == 400

    digest, uuid = stored[0]
    dropped = check_hub(bundles, stored[1:], {**held, "tally": held["tally"][1:]}, person)
    assert dropped["lost"] == [digest, held["tally"][0]]
    twice = check_hub(bundles, [*stored, (digest, "another-uuid")], held, person)
    assert twice["duplicated"] == [digest]


def test_sealing_a_sign_up_is_judged_against_half_a_millisecond_and_the_digest_only_reported():
    from bench.sealing_probe import SealingCost, figures  # noqa: PLC0415

    fast, slow = figures(SealingCost(0.3, 8.0)), figures(SealingCost(0.7, 8.0))
    assert [f.verdict for f in fast] == ["met", ""]
    assert slow[0].verdict == "MISSED"
    assert slow[1].target is None and slow[1].value == 8.0


def test_the_sync_scale_splits_sign_ups_into_the_windows_the_tables_ran_and_were_held():
    from bench.sync_scale import Window, paired_ratios, windowed  # noqa: PLC0415
    from tests.test_import_beside_tablets import Run  # noqa: PLC0415

    # Two windows: tables running for 0-3 s, held for 3-7 s; each window's first 0.5 s and
    # any sign-up crossing a window's end are left out.
    run = Run(
        seconds=[0.01, 0.2, 0.5, 0.02, 0.03, 0.04, 0.05],
        started=[0.2, 1.0, 2.9, 3.2, 3.6, 5.0, 6.99],
    )
    windows = [Window(False, 3, 7), Window(True, 0, 3)]
    assert windowed(run, windows) == ([0.2], [0.03, 0.04])

    starts = [1 + n / 20 for n in range(30)] + [3.5 + n / 20 for n in range(30)]
    many = Run(seconds=[0.02] * 30 + [0.01] * 30, started=starts)
    assert paired_ratios(many, [Window(True, 0, 3), Window(False, 3, 6)]) == [2.0]


BENCH_MAINS = (
    "run", "sync_scale", "hub", "writes", "import_beside", "sync_beside", "counts_probe",
    "reads_probe", "cpu_probe",
)  # fmt: skip


def test_every_benchmark_measures_the_real_email_digest() -> None:
    """bench.sync_scale imports the suite's conftest (through tests.test_sync_crash), which asks
    for the cheapest digests in its process and every kiosk it starts: each benchmark's main()
    takes that request back first, and sealing_probe still refuses to measure under it."""
    script = (
        "import os, bench, bench.run\n"
        "from kiosk import emails\n"
        "assert os.environ.get(emails.CHEAP_FOR_TESTS) == '1', 'the import no longer sets it'\n"
        "bench.measure_real_costs()\n"
        "assert emails.CHEAP_FOR_TESTS not in os.environ\n"
        "assert emails.digest_cost() == (emails.DIGEST_OPSLIMIT, emails.DIGEST_MEMLIMIT)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != emails.CHEAP_FOR_TESTS}
    root = Path(bench.__file__).parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert bench.CHEAP_DIGESTS == emails.CHEAP_FOR_TESTS
    for name in BENCH_MAINS:
        source = (root / "bench" / f"{name}.py").read_text()
        main = next(
            node
            for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef) and node.name == "main"
        )
        # The first statement after the docstring.
        body = [
            n
            for n in main.body
            if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
        ]
        first = body[0]
        assert ast.unparse(first) == "bench.measure_real_costs()", name


def test_the_sync_scale_splits_the_load_into_the_windows_the_tables_ran_and_were_held():
    from bench.sync_scale import Snapshot, Window, load_table, window_loads  # noqa: PLC0415
    from tests.test_import_beside_tablets import Run  # noqa: PLC0415

    def snap(at, hub, records, busy, tallies):
        answers = {"POST /hub/records 200": [records, records * 0.05]}
        answers |= {"POST /hub/records 503": [busy, busy * 0.01]} if busy else {}
        return Snapshot(at, {"hub": hub}, answers, {"tallies": tallies}, records)

    # Running 0-4 s: 4 chunks taken, 2 busy, 1.2 s of the hub's CPU; held 4-6 s: nothing
    # from the tables, 0.5 s of CPU.
    windows = [Window(True, 0, 4), Window(False, 4, 6)]
    edges = [snap(0, 10.0, 0, 0, 3), snap(4, 11.2, 4, 2, 7), snap(6, 11.7, 4, 2, 7)]
    running, held = window_loads(windows, edges)
    assert running.cpu == {"hub": pytest.approx(1.2)} and held.cpu == {"hub": pytest.approx(0.5)}
    assert running.answers["POST /hub/records 503"] == [2, pytest.approx(0.02)]
    assert held.answers == {}  # nothing answered to the tables while they were held
    assert (running.chunks, held.chunks) == (4, 0)
    assert (running.generations, held.generations) == ({"tallies": 4}, {"tallies": 0})

    run = Run(seconds=[0.03, 0.02], started=[1.0, 5.0])
    rows = load_table([running, held], run).splitlines()
    assert "| CPU hub (cores) | 0.3 | 0.25 |" in rows
    assert "| POST /hub/records 200 /s | 1 | 0 |" in rows
    assert "| POST /hub/records 200 mean ms | 50 | 0 |" in rows
    assert "| visitor sign-up p95 (ms) | 30.0 | 20.0 |" in rows

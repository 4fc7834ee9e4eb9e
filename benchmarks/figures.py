"""Every benchmark puts its figures (ns per operation, or ns for a one-off duration) into RESULTS
under a name; RATIOS declares which figure is read against which same-run baseline, and the
session summary (benchmarks/conftest.py) prints both."""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS: dict[str, float] = {}
NOTES: dict[str, str] = {}
TABLES: list[str] = []  # figures that are not times (bench_mailroom's accuracy), printed as they are
# (label, numerator, denominator): printed as numerator / denominator when both ran.
RATIOS: list[tuple[str, str, str]] = [
    ("screen_call vs phonenumbers.parse", "screen_call_1M", "phonenumbers_parse"),
    ("Redis SISMEMBER round trip vs screen_call", "redis_sismember", "screen_call_1M"),
    ("screen_mail vs phonenumbers.parse", "screen_mail_1M", "phonenumbers_parse"),
    ("screen_mail, OCR-damaged envelopes / printed ones", "screen_mail_1M_ocr", "screen_mail_1M"),
    ("pyahocorasick scan vs ahocorasick-rs scan", "scan_pyahocorasick_1M", "scan_ahocorasick_rs_1M"),
    ("GramPhrases scan vs pyahocorasick scan", "scan_gram_1M", "scan_pyahocorasick_1M"),
    # HTTP figures are ns per request, so empty/gateway reads as gateway rps / empty handler rps.
    ("gateway call rps / empty handler rps (allow-only)", "http_empty_req", "http_call_allow_req"),
    ("gateway call rps / empty handler rps (1% blocked)", "http_empty_req", "http_call_mix1_req"),
    ("gateway mail rps / empty handler rps (allow-only)", "http_empty_req", "http_mail_allow_req"),
    ("gateway mail rps / empty handler rps (1 in 10 blocked)", "http_empty_req", "http_mail_mix_req"),
    ("gateway call CPU per request / empty handler's", "http_call_allow_cpu", "http_empty_cpu"),
    (
        "gateway call rps / empty handler rps, both answering with JsonAnswer",
        "http_empty_direct_req",
        "http_call_allow_req",
    ),
    (
        "gateway call CPU per request / empty JsonAnswer handler's",
        "http_call_allow_cpu",
        "http_empty_direct_cpu",
    ),
    ("empty handler rps: JsonAnswer / web.Response", "http_empty_req", "http_empty_direct_req"),
    ("gateway call p99 / empty p99, both at 1000 rps", "http_call_allow_p99_fixed", "http_empty_p99_fixed"),
    # sync (bench_sync_*.py): latencies and stalls in ns, so each reads as "x times the baseline"
    ("write->enforced p50 / bare XADD->XREAD p50", "write_to_enforced_p50", "xadd_xread_p50"),
    ("write->enforced p99 / bare XADD->XREAD p99", "write_to_enforced_p99", "xadd_xread_p99"),
    ("cold start from snapshot, 1M / file parse floor", "cold_start_snapshot_1M", "snapshot_parse_floor_1M"),
    ("cold start from Redis, 1M / bare HGETALL", "cold_start_redis_1M", "hgetall_1M"),
    ("longest loop stall, 1M-phrase resync / idle loop", "loop_stall_resync_1M", "loop_stall_baseline"),
    ("longest loop stall, bursts of changes / idle loop", "loop_stall_bursts_1M", "loop_stall_baseline"),
    (
        "longest loop stall, 1M-phrase resync / loop beside plain Python",
        "loop_stall_resync_1M",
        "loop_stall_busy_baseline",
    ),
    (
        "longest loop stall, cold start of 1M phrases / loop beside plain Python",
        "loop_stall_cold_1M",
        "loop_stall_busy_baseline",
    ),
    # TLS (bench_tls.py): ns per request, so plain/TLS reads as HTTPS rps / plain rps
    ("HTTPS call rps / plain HTTP call rps, same core, keep-alive", "plain_call_req", "tls_call_req"),
    ("HTTPS call CPU per request / plain HTTP's", "tls_call_cpu", "plain_call_cpu"),
    # failover (bench_failover.py): from the primary's SIGKILL, against Sentinel's down-after
    ("failover: first write accepted / Sentinel down-after", "failover_first_write", "sentinel_down_after"),
    (
        "failover: enforced on both gateways / Sentinel down-after",
        "failover_enforced_on_all",
        "sentinel_down_after",
    ),
    # restart with Redis down (bench_restart_down.py): seconds from exec, median of the rounds
    (
        "restart, Redis down, 1M: exec -> /readyz 200 / snapshot parse floor",
        "restart_down_ready_1M",
        "restart_down_parse_floor_1M",
    ),
    (
        "restart, Redis down, 1M: exec -> /readyz 200 / empty list's exec -> listening",
        "restart_down_ready_1M",
        "restart_down_empty_listening",
    ),
    (
        "restart, Redis down, 1M: exec -> dialler token answered / empty list's exec -> listening",
        "restart_down_first_call_1M",
        "restart_down_empty_listening",
    ),
    # hit pages over 100k hits (bench_hitpages.py): ms per page against GET /healthz, call p99 ratio
    *(
        (f"hit page {name} at 100k hits / GET /healthz", f"hitpages_{name}", "hitpages_healthz")
        for name in (
            "queue",
            "queue_prisoner",
            "queue_unreviewed_mail",
            "queue_jump",
            "prisoner",
            "hit",
            "relay",
            "charts",
        )
    ),
    (
        "call p99 while three hit pages render / quiet call p99",
        "hitpages_calls_pages_p99",
        "hitpages_calls_quiet_p99",
    ),
    (
        "call p50 while three hit pages render / quiet call p50",
        "hitpages_calls_pages_p50",
        "hitpages_calls_quiet_p50",
    ),
    (
        "PBX gateway (pages off): call p99 while three pages render on the pages gateway / quiet",
        "hitpages_split_calls_pages_p99",
        "hitpages_split_calls_quiet_p99",
    ),
    (
        "PBX gateway (pages off): call p50 while three pages render on the pages gateway / quiet",
        "hitpages_split_calls_pages_p50",
        "hitpages_split_calls_quiet_p50",
    ),
    # many gateways (bench_fleet.py): authorised -> enforced, against one follower in the same run
    ("50 followers: enforced on all p50 / one follower's p50", "fleet50_all_p50", "fleet1_all_p50"),
    ("50 followers: enforced on all p99 / one follower's p99", "fleet50_all_p99", "fleet1_all_p99"),
    (
        "50 followers: FleetStore says 50 of 50, p50 / says 1 of 1",
        "fleet50_service_p50",
        "fleet1_service_p50",
    ),
    # token revocation (bench_revocation.py): DELETE on gateway A -> 401 on gateway B
    ("revocation on B p50 / Redis PING", "revocation_p50", "revocation_redis_ping"),
    ("revocation on B p99 / Redis PING", "revocation_p99", "revocation_redis_ping"),
    ("revocation on B p50 / one screening call on B", "revocation_p50", "revocation_screen_call_b"),
    # contacts (bench_contacts.py)
    (
        "full contacts sweep, longest loop stall / idle loop",
        "contacts_sweep_stall_work",
        "contacts_sweep_stall_idle",
    ),
    (
        "full contacts sweep, longest loop stall / loop beside plain Python",
        "contacts_sweep_stall_work",
        "contacts_sweep_stall_busy",
    ),
    ("new block -> tasks p50 / bare XADD->XREAD p50", "contacts_incremental_p50", "xadd_xread_p50_contacts"),
    ("new block -> tasks p99 / bare XADD->XREAD p99", "contacts_incremental_p99", "xadd_xread_p99_contacts"),
    ("one contact checked / one letter screened", "contacts_check_one", "contacts_screen_mail"),
    ("one contact checked / phonenumbers.parse", "contacts_check_one", "phonenumbers_parse_contacts"),
]


def record(name: str, per_op_ns: float, note: str = "") -> None:
    RESULTS[name] = per_op_ns
    if note:
        NOTES[name] = note


def per_op(benchmark: Any, fn: Callable[[], object], ops: int, name: str, rounds: int = 20) -> float:
    """Run `fn` (which performs `ops` operations) under pytest-benchmark; record the median per op."""
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    median_ns = benchmark.stats.stats.median / ops * 1e9
    benchmark.extra_info["per_op_ns"] = round(median_ns, 1)
    record(name, median_ns)
    return median_ns


def rss_bytes() -> int:
    with Path("/proc/self/statm").open() as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

"""The timeline's pure core: stamps from three sources on one monotonic axis."""

from __future__ import annotations

from demo.timeline import Evidence, kill_rows, missing, render, stages

WD, TR = "wd-key", "tr-key"


def evidence(**changes: object) -> Evidence:
    base: dict[str, object] = {
        "trigger_mono": 100.0,
        "trigger_detail": "SIGKILL",
        "wall_minus_mono": 1_000_000.0,
        "journal": [
            {"mono": 99.0, "endpoint": "DELETE /fapi/v1/allOpenOrders", "api_key": WD},
            {"mono": 100.020, "endpoint": "DELETE /fapi/v1/allOpenOrders", "api_key": TR},
            {"mono": 100.030, "endpoint": "DELETE /fapi/v1/allOpenOrders", "api_key": WD},
            {"mono": 100.040, "endpoint": "DELETE /fapi/v1/allOpenOrders", "api_key": WD},
            {"mono": 100.025, "endpoint": "key_deleted", "api_key": TR},
        ],
        "audit": [
            {"ts": 1_000_099.5, "kind": "kill_step_verified",
             "detail": {"step": "venue_cancel_all"}},
            {"ts": 1_000_100.050, "kind": "kill_step_verified",
             "detail": {"step": "venue_cancel_all"}},
            {"ts": 1_000_100.015, "kind": "kill_step_verified", "detail": {"step": "stop_process"}},
            {"ts": 1_000_100.016, "kind": "kill_step_attempt", "detail": {"step": "venue_sweep"}},
        ],
        "kill_timing": {"trigger_monotonic": 100.001, "latched_monotonic": 100.004,
                        "reason": "process exited"},
        "watchdog_key": WD,
        "trader_key": TR,
    }  # fmt: skip
    base.update(changes)
    return Evidence(**base)  # type: ignore[arg-type]


def test_every_milestone_is_placed_in_time_order_from_its_own_source() -> None:
    rows = kill_rows(evidence())
    got = [(r.milestone, round((r.mono - 100.0) * 1000, 3), r.source) for r in rows]
    assert got == [
        ("trigger", 0.0, "demo"),
        ("detection", 1.0, "watchdog status"),
        ("latch persisted", 4.0, "watchdog status"),
        ("trader stopped", 15.0, "watchdog audit"),
        ("trader key refused", 25.0, "venue journal"),
        ("cancel-all sent", 30.0, "venue journal"),  # the watchdog's, not the trader's, first
        ("no open orders", 50.0, "watchdog audit"),  # the one after the trigger
    ]
    assert missing(rows) == []


def test_an_older_kill_and_missing_evidence_are_left_out_and_named() -> None:
    rows = kill_rows(evidence(kill_timing={"trigger_monotonic": 50.0, "latched_monotonic": 50.1},
                              journal=[], audit=[]))  # fmt: skip
    assert [r.milestone for r in rows] == ["trigger"]
    assert missing(rows) == [
        "detection", "latch persisted", "cancel-all sent", "no open orders",
        "trader key refused", "trader stopped",
    ]  # fmt: skip


def test_render_aligns_columns_with_signed_milliseconds() -> None:
    lines = render(kill_rows(evidence()), 100.0)
    assert lines[0].startswith("       +0.0 ms  trigger ")
    assert lines[-1].startswith("      +50.0 ms  no open orders ")
    assert len({line.index(" ms  ") for line in lines}) == 1
    sources = {line.index(r.source) for line, r in zip(lines, kill_rows(evidence()), strict=True)}
    assert len(sources) == 1  # the source column is aligned too


def test_the_cancel_all_is_found_under_the_venues_own_endpoint_name() -> None:
    journal = [
        {"mono": 100.010, "endpoint": "DELETE /fapi/v1/allOpenOrders", "api_key": WD},
        {"mono": 100.030, "endpoint": "POST /v5/order/cancel-all", "api_key": WD},
    ]
    rows = kill_rows(evidence(journal=journal, venue="bybit"))
    (cancel,) = [r for r in rows if r.milestone == "cancel-all sent"]
    assert (round((cancel.mono - 100.0) * 1000, 3), cancel.detail) == (
        30.0,
        "POST /v5/order/cancel-all",
    )


def test_stages_are_the_rows_as_data_in_milliseconds_after_the_trigger() -> None:
    rows = kill_rows(evidence())
    data = stages(rows, 100.0)
    assert [d["stage"] for d in data] == [r.milestone for r in rows]
    assert data[0] == {"stage": "trigger", "ms": 0.0, "source": "demo", "detail": "SIGKILL"}
    assert data[-1]["ms"] == 50.0


def test_an_empty_book_on_a_per_order_venue_stands_for_the_cancel_without_inventing_one() -> None:
    journal = [
        {"mono": 100.010, "endpoint": "POST /api/v5/trade/cancel-all-after", "api_key": WD},
        {"mono": 100.025, "endpoint": "key_deleted", "api_key": TR},
    ]
    rows = kill_rows(evidence(journal=journal, venue="okx"))
    (empty,) = [r for r in rows if r.milestone == "nothing to cancel"]
    assert round((empty.mono - 100.0) * 1000, 3) == 50.0  # the verified listing's own stamp
    assert "cancel-all sent" not in {r.milestone for r in rows}
    assert missing(rows) == []


def test_a_cancel_that_went_out_is_never_reported_as_nothing_to_cancel() -> None:
    journal = [
        {"mono": 100.020, "endpoint": "POST /api/v5/trade/cancel-order", "api_key": WD},
        {"mono": 100.025, "endpoint": "key_deleted", "api_key": TR},
    ]
    rows = kill_rows(evidence(journal=journal, venue="okx"))
    assert "nothing to cancel" not in {r.milestone for r in rows}
    assert missing(rows) == ["cancel-all sent"]

"""Armed is judged on the status the daemon shows: every part working now, or each missing part
named with its reason."""

from __future__ import annotations

from typing import Any

from watchdog.daemon.armed import Missing, daemon_missing, judge, process_identity, trader_missing

NOW = 1_700_000_000.0
DAEMON_OK = {"ingress_healthy": True, "store_healthy": True, "store_error": ""}
TIED = {"known": True, "required": True, "pid": 4242, "via": "sender_pid", "reason": ""}
UNTIED = {"known": False, "required": True, "pid": 77, "via": "", "reason": "pid 77 is not tied"}


def venue_trader(**changes: Any) -> dict[str, Any]:
    """A trader with a venue side whose every part works at NOW."""
    trader: dict[str, Any] = {
        "id": "alpha",
        "pid": 4242,
        "identity": TIED,
        "process_watched": True,
        "venue_keys": {"ok": True, "checked_at": NOW - 20.0, "detail": "ok"},
        "venue_view": {"at": NOW - 0.3, "age_s": 0.3, "max_blind_s": 5.0},
        "dms": {
            "ok": True,
            "detail": "10000 ms on BTCUSDT",
            "countdown_ms": 10_000,
            "refresh_s": 10 / 3,
            "refreshed_at": NOW - 1.0,
            "expires_at": NOW + 9.0,
        },
    }
    trader.update(changes)
    return trader


def parts(missing: list[Missing]) -> list[str]:
    return [m.part for m in missing]


def test_everything_working_is_armed() -> None:
    assert judge(DAEMON_OK, [venue_trader()], NOW) == []


def test_a_trader_without_a_venue_side_is_judged_on_its_process_alone() -> None:
    bare = {"id": "b", "pid": 77, "identity": TIED, "process_watched": True,
            "venue_keys": None, "venue_view": None, "dms": None}  # fmt: skip
    assert trader_missing(bare, NOW) == []
    assert parts(trader_missing({**bare, "identity": UNTIED}, NOW)) == ["process"]


def test_the_daemons_own_parts_are_named_without_a_trader() -> None:
    missing = daemon_missing({"ingress_healthy": False, "store_healthy": False,
                              "store_error": "disk I/O error"})  # fmt: skip
    assert [(m.part, m.trader) for m in missing] == [("ingress", None), ("store", None)]
    assert "disk I/O error" in missing[1].reason


def test_an_unknown_process_is_not_armed() -> None:
    assert process_identity({"pid": 4242}) is not None  # a pid alone is not tied to the trader
    assert process_identity({"identity": "yes"}) is not None  # not what the status reports
    untied = {"known": False, "pid": 4242, "reason": "pid 4242 never sent telemetry"}
    assert "never sent telemetry" in str(process_identity({"identity": untied}))
    assert process_identity({"identity": TIED}) is None
    (missing,) = trader_missing(venue_trader(pid=None, identity=UNTIED), NOW)
    assert (missing.part, missing.trader) == ("process", "alpha")
    assert "pid 77 is not tied" in missing.reason


def test_a_trader_with_no_process_configured_is_not_judged_on_one() -> None:
    assert trader_missing(venue_trader(identity=UNTIED, process_watched=False), NOW) == []


def test_keys_not_yet_checked_or_failing_are_not_armed() -> None:
    unchecked = {"ok": False, "checked_at": None, "detail": ""}
    assert "not been checked" in trader_missing(venue_trader(venue_keys=unchecked), NOW)[0].reason
    failing = {"ok": False, "checked_at": NOW - 1, "detail": "master key: refused"}
    (missing,) = trader_missing(venue_trader(venue_keys=failing), NOW)
    assert missing.part == "venue_keys"
    assert "master key: refused" in missing.reason


def test_a_stale_or_absent_venue_view_is_not_armed() -> None:
    stale = {"at": NOW - 5.5, "age_s": 5.5, "max_blind_s": 5.0}
    (missing,) = trader_missing(venue_trader(venue_view=stale), NOW)
    assert missing.part == "venue_view"
    assert "5.5 s old (max 5 s)" in missing.reason
    never = {"at": None, "age_s": None, "max_blind_s": 5.0}
    assert parts(trader_missing(venue_trader(venue_view=never), NOW)) == ["venue_view"]
    at_the_limit = {"at": NOW - 5.0, "age_s": 5.0, "max_blind_s": 5.0}
    assert trader_missing(venue_trader(venue_view=at_the_limit), NOW) == []


def test_a_dead_mans_switch_failed_expired_late_or_never_confirmed_is_not_armed() -> None:
    good = venue_trader()["dms"]
    failed = {**good, "ok": False, "detail": "BTCUSDT: VenueUnavailable: 503"}
    expired = {**good, "expires_at": NOW - 0.5}
    late = {**good, "refreshed_at": NOW - 7.0}  # two intervals of 3.3 s missed, still running
    never = {**good, "ok": False, "detail": "never refreshed", "refreshed_at": None,
             "expires_at": None}  # fmt: skip
    for dms, words in ((failed, "503"), (expired, "ran out 0.5 s ago"),
                       (late, "last refreshed 7.0 s ago"), (never, "never refreshed")):  # fmt: skip
        (missing,) = trader_missing(venue_trader(dms=dms), NOW)
        assert missing.part == "dms"
        assert words in missing.reason


def test_a_switch_the_venue_does_not_have_is_missing_and_says_how_to_arm_without_it() -> None:
    good = venue_trader()["dms"]
    unsupported = {**good, "ok": False, "supported": False, "refreshed_at": None,
                   "expires_at": None, "detail": "unsupported here: no DCP"}  # fmt: skip
    (missing,) = trader_missing(venue_trader(dms=unsupported), NOW)
    assert missing.part == "dms"
    assert "unsupported here" in missing.reason
    assert "turn it off in the config" in missing.reason
    # Turned off by the operator: no switch to judge, the rest of the venue side still is.
    assert trader_missing(venue_trader(dms=None), NOW) == []


def test_every_missing_part_is_listed_daemon_first() -> None:
    broken = venue_trader(
        identity=UNTIED, venue_view={"at": None, "age_s": None, "max_blind_s": 5.0}
    )
    missing = judge({**DAEMON_OK, "ingress_healthy": False}, [broken], NOW)
    assert [(m.part, m.trader) for m in missing] == [
        ("ingress", None), ("process", "alpha"), ("venue_view", "alpha"),
    ]  # fmt: skip
    assert missing[0].as_dict() == {"part": "ingress", "trader": None,
                                    "reason": "the telemetry ingress is not listening"}  # fmt: skip

"""The quoting strategy is a pure function: every case is data in, plan out."""

from __future__ import annotations

from trader.strategy import NOTHING, Plan, Posture, QuoteParams, Resting, Side, Top, decide

PARAMS = QuoteParams(
    half_spread_bps=5.0, skew_bps=5.0, requote_ticks=1, quote_lots=10, max_position_lots=30
)
TOP = Top(bid=100_000, ask=100_002)  # mid 100001 ticks; 5 bps half spread = 50 ticks


def quotes(plan: Plan) -> dict[Side, tuple[int, int, bool]]:
    return {q.side: (q.price, q.qty, q.reduce_only) for q in plan.place}


def test_a_flat_book_gets_a_bid_and_an_ask_symmetric_around_mid() -> None:
    plan = decide(PARAMS, TOP, 0, [], Posture.QUOTE)
    got = quotes(plan)
    assert got[Side.BUY] == (99_950, 10, False)
    assert got[Side.SELL] == (100_052, 10, False)
    assert plan.cancel == ()


def test_a_long_inventory_shifts_both_quotes_down() -> None:
    flat = quotes(decide(PARAMS, TOP, 0, [], Posture.QUOTE))
    long = quotes(decide(PARAMS, TOP, 15, [], Posture.QUOTE))
    assert long[Side.BUY][0] < flat[Side.BUY][0]
    assert long[Side.SELL][0] < flat[Side.SELL][0]


def test_a_short_inventory_shifts_both_quotes_up() -> None:
    flat = quotes(decide(PARAMS, TOP, 0, [], Posture.QUOTE))
    short = quotes(decide(PARAMS, TOP, -15, [], Posture.QUOTE))
    assert short[Side.BUY][0] > flat[Side.BUY][0]
    assert short[Side.SELL][0] > flat[Side.SELL][0]


def test_the_bid_shrinks_to_the_room_left_under_the_maximum_position() -> None:
    got = quotes(decide(PARAMS, TOP, 25, [], Posture.QUOTE))
    assert got[Side.BUY][1] == 5
    assert got[Side.SELL][1] == 10


def test_at_the_maximum_position_no_bid_is_placed_but_the_ask_still_is() -> None:
    got = quotes(decide(PARAMS, TOP, 30, [], Posture.QUOTE))
    assert Side.BUY not in got
    assert Side.SELL in got


def test_an_order_being_cancelled_counts_against_the_position_room() -> None:
    cancelling = Resting("b-old", Side.BUY, 99_900, 10, False, cancelling=True)
    got = quotes(decide(PARAMS, TOP, 15, [cancelling], Posture.QUOTE))
    assert got[Side.BUY][1] == 5


def test_matching_resting_orders_are_kept_and_nothing_is_sent() -> None:
    resting = [
        Resting("b1", Side.BUY, 99_950, 10, False),
        Resting("a1", Side.SELL, 100_052, 10, False),
    ]
    assert decide(PARAMS, TOP, 0, resting, Posture.QUOTE) is NOTHING


def test_an_order_within_the_requote_tolerance_is_kept() -> None:
    resting = [
        Resting("b1", Side.BUY, 99_951, 10, False),
        Resting("a1", Side.SELL, 100_051, 10, False),
    ]
    assert decide(PARAMS, TOP, 0, resting, Posture.QUOTE) is NOTHING


def test_an_order_that_drifted_away_is_cancelled_and_replaced() -> None:
    resting = [
        Resting("b1", Side.BUY, 99_900, 10, False),
        Resting("a1", Side.SELL, 100_052, 10, False),
    ]
    plan = decide(PARAMS, TOP, 0, resting, Posture.QUOTE)
    assert plan.cancel == ("b1",)
    assert quotes(plan) == {Side.BUY: (99_950, 10, False)}


def test_duplicate_orders_on_one_side_are_cancelled_down_to_one() -> None:
    resting = [
        Resting("b1", Side.BUY, 99_950, 10, False),
        Resting("b2", Side.BUY, 99_950, 10, False),
        Resting("a1", Side.SELL, 100_052, 10, False),
    ]
    plan = decide(PARAMS, TOP, 0, resting, Posture.QUOTE)
    assert plan.cancel == ("b2",)
    assert plan.place == ()


def test_flat_posture_cancels_everything_and_places_nothing() -> None:
    resting = [Resting("b1", Side.BUY, 99_950, 10, False), Resting("a1", Side.SELL, 1, 10, False)]
    plan = decide(PARAMS, TOP, 5, resting, Posture.FLAT)
    assert set(plan.cancel) == {"b1", "a1"}
    assert plan.place == ()


def test_flat_posture_does_not_cancel_an_order_twice() -> None:
    resting = [Resting("b1", Side.BUY, 99_950, 10, False, cancelling=True)]
    assert decide(PARAMS, TOP, 0, resting, Posture.FLAT) is NOTHING


def test_reduce_posture_with_a_long_position_only_offers_a_reduce_only_ask() -> None:
    plan = decide(PARAMS, TOP, 7, [Resting("b1", Side.BUY, 99_950, 10, False)], Posture.REDUCE)
    assert plan.cancel == ("b1",)
    assert [(q.side, q.qty, q.reduce_only) for q in plan.place] == [(Side.SELL, 7, True)]


def test_reduce_posture_with_a_short_position_only_offers_a_reduce_only_bid() -> None:
    plan = decide(PARAMS, TOP, -20, [], Posture.REDUCE)
    assert [(q.side, q.qty, q.reduce_only) for q in plan.place] == [(Side.BUY, 10, True)]


def test_reduce_posture_while_flat_opens_nothing() -> None:
    assert decide(PARAMS, TOP, 0, [], Posture.REDUCE) is NOTHING


def test_no_book_or_a_crossed_book_means_no_quotes() -> None:
    resting = [Resting("b1", Side.BUY, 99_950, 10, False)]
    assert decide(PARAMS, None, 0, [], Posture.QUOTE) is NOTHING
    assert decide(PARAMS, Top(100, 100), 0, resting, Posture.QUOTE).cancel == ("b1",)
    assert decide(PARAMS, Top(101, 100), 0, [], Posture.QUOTE) is NOTHING


def test_quotes_never_cross_the_book_even_with_a_heavy_skew() -> None:
    heavy = QuoteParams(1.0, 500.0, 0, 10, 30)
    for position in (-30, -10, 0, 10, 30):
        for q in decide(heavy, TOP, position, [], Posture.QUOTE).place:
            if q.side is Side.BUY:
                assert q.price < TOP.ask
            else:
                assert q.price > TOP.bid


def test_a_one_tick_spread_still_quotes_at_least_one_tick_from_mid() -> None:
    got = quotes(decide(QuoteParams(0.0001, 0.0, 0, 1, 3), Top(10, 11), 0, [], Posture.QUOTE))
    assert got[Side.BUY][0] <= 10
    assert got[Side.SELL][0] >= 11


def test_a_replaced_order_still_counts_against_the_room_until_its_cancel_lands() -> None:
    drifted = Resting("b-old", Side.BUY, 99_000, 10, False)
    plan = decide(PARAMS, TOP, 15, [drifted], Posture.QUOTE)
    assert plan.cancel == ("b-old",)
    assert quotes(plan)[Side.BUY][1] == 5


def test_with_no_room_left_beside_the_resting_orders_the_side_is_emptied() -> None:
    resting = [
        Resting("b1", Side.BUY, 99_950, 10, False),
        Resting("b2", Side.BUY, 99_000, 10, False),
    ]
    plan = decide(PARAMS, TOP, 15, resting, Posture.QUOTE)
    assert set(plan.cancel) == {"b1", "b2"}
    assert Side.BUY not in quotes(plan)

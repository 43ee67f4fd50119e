"""CPU lists, masks and the comparison semantics of knobs (pure)."""

from __future__ import annotations

import pytest

from sysprep.cpulist import format_cpulist, format_cpumask, parse_cpulist, parse_cpumask
from sysprep.errors import MalformedValueError
from sysprep.wanted import AtLeast, CpusExcluded, Exact, Selected, ShellVariable, shell_variable


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0-3,6", {0, 1, 2, 3, 6}), ("1", {1}), ("", set()), ("0-1\n", {0, 1})],
)
def test_cpulists_parse_the_kernel_format(text: str, cpus: set[int]) -> None:
    assert parse_cpulist(text) == cpus


@pytest.mark.parametrize("text", ["a", "3-1", "-1", "1-x"])
def test_a_malformed_cpulist_is_an_error_not_an_empty_set(text: str) -> None:
    with pytest.raises(MalformedValueError, match="not a CPU list"):
        parse_cpulist(text)


def test_cpulists_and_masks_round_trip() -> None:
    assert format_cpulist({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert parse_cpumask("00000000,00000003") == {0, 1}
    assert parse_cpumask(format_cpumask({0, 33})) == {0, 33}
    with pytest.raises(MalformedValueError):
        parse_cpumask("zz")


def test_at_least_raises_each_field_and_never_lowers_a_larger_default() -> None:
    wanted = AtLeast((4096, 87380, 16777216))
    assert not wanted.satisfied("4096\t16384\t4194304")
    assert wanted.target("4096\t16384\t4194304") == "4096 87380 16777216"
    # the seed script's 16 MiB ceiling would have lowered this kernel's 32 MiB default
    assert wanted.target("4096\t131072\t33554432") == "4096 131072 33554432"
    assert wanted.satisfied("4096\t131072\t33554432")


def test_at_least_refuses_a_triple_with_the_wrong_shape() -> None:
    with pytest.raises(MalformedValueError, match="expected 3 integer"):
        AtLeast((1, 2, 3)).satisfied("4096 87380")


def test_exact_ignores_whitespace_differences() -> None:
    assert Exact("4096 65536 16777216").satisfied("4096\t65536\t16777216\n")
    assert not Exact("3").satisfied("1\n")


def test_selected_reads_the_bracketed_choice_and_restores_it_bare() -> None:
    thp = Selected("never")
    assert not thp.satisfied("always [madvise] never\n")
    assert thp.restorable("always [madvise] never\n") == "madvise"
    assert thp.target("always [madvise] never") == "never"
    with pytest.raises(MalformedValueError):
        thp.satisfied("always madvise never")
    with pytest.raises(MalformedValueError, match="not offered"):
        Selected("never").target("always [madvise]")


def test_an_irq_mask_is_fine_when_it_excludes_the_trader_cpus() -> None:
    away = CpusExcluded(frozenset({1}), frozenset({0}))
    assert away.satisfied("0")
    assert not away.satisfied("0-1")
    assert not away.satisfied("")  # an empty mask is not a valid affinity
    assert CpusExcluded(frozenset({1}), frozenset({0}), mask=True).target("3") == "1"


def test_the_irqbalance_setting_is_replaced_not_duplicated() -> None:
    ban = ShellVariable("IRQBALANCE_BANNED_CPULIST", "1")
    before = '#IRQBALANCE_ONESHOT=\nIRQBALANCE_BANNED_CPULIST=""\n'
    after = ban.target(before)
    assert ban.satisfied(after)
    assert after.count("IRQBALANCE_BANNED_CPULIST=") == 1
    assert "#IRQBALANCE_ONESHOT=" in after
    assert shell_variable(before, "IRQBALANCE_BANNED_CPULIST") == ""


def test_a_shell_value_with_a_trailing_comment_is_read_without_it() -> None:
    assert shell_variable('X="0-1"  # why\n', "X") == "0-1"
    with pytest.raises(MalformedValueError, match="unbalanced quotes"):
        shell_variable('X="0-1\n', "X")


def test_reapplying_the_irqbalance_setting_keeps_one_marker() -> None:
    ban = ShellVariable("IRQBALANCE_BANNED_CPULIST", "2")
    once = ShellVariable("IRQBALANCE_BANNED_CPULIST", "1").target("")
    twice = ban.target(once)
    assert twice.count("# Set by sysprep") == 1
    assert ban.satisfied(twice)

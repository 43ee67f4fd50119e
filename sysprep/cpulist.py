"""CPU sets in the kernel's two text forms: lists ("0-2,5") and hex masks ("00000000,0000000f")."""

from __future__ import annotations

from collections.abc import Iterable

from sysprep.errors import MalformedValueError


def parse_cpulist(text: str) -> frozenset[int]:
    """Parse a kernel cpulist such as ``0-3,6``; the empty string is the empty set."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if sep else low
        except ValueError:
            raise MalformedValueError(f"not a CPU list: {text.strip()!r}") from None
        if low < 0 or high < low:
            raise MalformedValueError(f"not a CPU list: {text.strip()!r}")
        cpus.update(range(low, high + 1))
    return frozenset(cpus)


def format_cpulist(cpus: Iterable[int]) -> str:
    """Format CPUs the way the kernel does: sorted, consecutive runs as ranges."""
    ordered = sorted(set(cpus))
    runs: list[str] = []
    index = 0
    while index < len(ordered):
        end = index
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        first, last = ordered[index], ordered[end]
        runs.append(str(first) if first == last else f"{first}-{last}")
        index = end + 1
    return ",".join(runs)


def parse_cpumask(text: str) -> frozenset[int]:
    """Parse a hex CPU mask; the kernel separates 32-bit groups with commas."""
    digits = text.strip().replace(",", "")
    try:
        value = int(digits, 16)
    except ValueError:
        raise MalformedValueError(f"not a CPU mask: {text.strip()!r}") from None
    return frozenset(bit for bit in range(value.bit_length()) if value >> bit & 1)


def format_cpumask(cpus: Iterable[int]) -> str:
    """Format CPUs as a hex mask the kernel accepts."""
    return format(sum(1 << cpu for cpu in set(cpus)), "x")

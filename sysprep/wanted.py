"""What a knob should hold, and how to compare it with what the kernel shows.

Each kind is a frozen value with pure methods over the raw text of the knob's file:
``satisfied`` says whether the current text meets the wish, ``target`` is the text to write,
``restorable`` is the text that puts the current state back on revert, and ``show`` is the
current state for humans. Parse failures raise :class:`MalformedValueError`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Protocol

from sysprep.cpulist import format_cpulist, format_cpumask, parse_cpulist, parse_cpumask
from sysprep.errors import MalformedValueError


class Wanted(Protocol):
    """Comparison semantics of one knob."""

    @property
    def form(self) -> str:
        """How revert compares a restored value: "raw" (tokens), "selected" or "file"."""
        ...

    def describe(self) -> str: ...
    def satisfied(self, raw: str) -> bool: ...
    def target(self, raw: str) -> str: ...
    def restorable(self, raw: str) -> str: ...
    def show(self, raw: str) -> str: ...


def tokens(raw: str) -> tuple[str, ...]:
    """Whitespace-insensitive form: sysctl triples come back tab-separated."""
    return tuple(raw.split())


@dataclass(frozen=True)
class Exact:
    """The knob must hold exactly this value (whitespace-insensitive)."""

    value: str
    form: str = "raw"

    def describe(self) -> str:
        return self.value

    def satisfied(self, raw: str) -> bool:
        return tokens(raw) == tokens(self.value)

    def target(self, raw: str) -> str:
        return self.value

    def restorable(self, raw: str) -> str:
        return " ".join(tokens(raw))

    def show(self, raw: str) -> str:
        return " ".join(tokens(raw))


def _integers(raw: str, count: int) -> tuple[int, ...]:
    parts = tokens(raw)
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        raise MalformedValueError(f"expected {count} integer(s), found {raw.strip()!r}") from None
    if len(values) != count:
        raise MalformedValueError(f"expected {count} integer(s), found {raw.strip()!r}")
    return values


@dataclass(frozen=True)
class AtLeast:
    """Each field must be at least the wanted one: raise a ceiling, never lower a larger one."""

    values: tuple[int, ...]
    form: str = "raw"

    def describe(self) -> str:
        return ">= " + " ".join(str(value) for value in self.values)

    def satisfied(self, raw: str) -> bool:
        current = _integers(raw, len(self.values))
        return all(have >= want for have, want in zip(current, self.values, strict=True))

    def target(self, raw: str) -> str:
        current = _integers(raw, len(self.values))
        merged = (max(have, want) for have, want in zip(current, self.values, strict=True))
        return " ".join(str(value) for value in merged)

    def restorable(self, raw: str) -> str:
        return " ".join(str(value) for value in _integers(raw, len(self.values)))

    def show(self, raw: str) -> str:
        return " ".join(tokens(raw))


_SELECTED = re.compile(r"\[([^\]]+)\]")


def selected(raw: str) -> str:
    """The bracketed choice of a sysfs selector such as ``always [madvise] never``."""
    match = _SELECTED.search(raw)
    if match is None:
        raise MalformedValueError(f"no [selected] choice in {raw.strip()!r}")
    return match.group(1)


@dataclass(frozen=True)
class Selected:
    """A sysfs selector (transparent hugepages) must have this choice selected."""

    value: str
    form: str = "selected"

    def describe(self) -> str:
        return self.value

    def satisfied(self, raw: str) -> bool:
        return selected(raw) == self.value

    def target(self, raw: str) -> str:
        if self.value not in raw.replace("[", " ").replace("]", " ").split():
            raise MalformedValueError(f"{self.value!r} is not offered by {raw.strip()!r}")
        return self.value

    def restorable(self, raw: str) -> str:
        return selected(raw)

    def show(self, raw: str) -> str:
        return selected(raw)


@dataclass(frozen=True)
class CpusExcluded:
    """A CPU list must not contain ``excluded``; when it does, write ``target``."""

    excluded: frozenset[int]
    replacement: frozenset[int]
    mask: bool = False
    form: str = "raw"

    def _parse(self, raw: str) -> frozenset[int]:
        return parse_cpumask(raw) if self.mask else parse_cpulist(raw)

    def describe(self) -> str:
        return format_cpulist(self.replacement)

    def satisfied(self, raw: str) -> bool:
        current = self._parse(raw)
        return bool(current) and not current & self.excluded

    def target(self, raw: str) -> str:
        if self.mask:
            return format_cpumask(self.replacement)
        return format_cpulist(self.replacement)

    def restorable(self, raw: str) -> str:
        return raw.strip()

    def show(self, raw: str) -> str:
        return format_cpulist(self._parse(raw))


@dataclass(frozen=True)
class MaskAvoids:
    """A hex CPU mask may name any CPU but these; the empty mask (feature off) is fine too.

    For RPS and XPS masks: work steered to a trader CPU is noise there, and no steering at
    all leaves the work on the CPU that took the interrupt (a housekeeping CPU).
    """

    excluded: frozenset[int]
    form: str = "raw"

    def describe(self) -> str:
        return f"none of {format_cpulist(self.excluded)}"

    def satisfied(self, raw: str) -> bool:
        return not parse_cpumask(raw) & self.excluded

    def target(self, raw: str) -> str:
        return format_cpumask(parse_cpumask(raw) - self.excluded)

    def restorable(self, raw: str) -> str:
        return raw.strip()

    def show(self, raw: str) -> str:
        return format_cpulist(parse_cpumask(raw)) or "none"


@dataclass(frozen=True)
class FileContent:
    """A whole configuration file this tool owns; absent means "create it"."""

    content: str
    form: str = "file"

    def describe(self) -> str:
        return f"{len(self.content.splitlines())} line(s) written by sysprep"

    def satisfied(self, raw: str) -> bool:
        return raw == self.content

    def target(self, raw: str) -> str:
        return self.content

    def restorable(self, raw: str) -> str:
        return raw

    def show(self, raw: str) -> str:
        return f"{len(raw.splitlines())} line(s)"


_MARK = "# Set by sysprep apply (keeps IRQs off the trader CPUs); sysprep revert restores."
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def shell_variable(raw: str, name: str) -> str | None:
    """The last value a shell-style defaults file assigns to ``name`` (quotes removed)."""
    value: str | None = None
    for line in raw.splitlines():
        match = _ASSIGNMENT.match(line)
        if match and match.group(1) == name:
            try:
                words = shlex.split(match.group(2), comments=True)
            except ValueError:
                raise MalformedValueError(f"unbalanced quotes in {line.strip()!r}") from None
            value = words[0] if words else ""
    return value


@dataclass(frozen=True)
class ShellVariable:
    """One ``NAME=value`` line in a defaults file (``/etc/default/irqbalance``)."""

    name: str
    value: str
    form: str = "file"

    def describe(self) -> str:
        return f"{self.name}={self.value}"

    def satisfied(self, raw: str) -> bool:
        return shell_variable(raw, self.name) == self.value

    def target(self, raw: str) -> str:
        kept = [
            line
            for line in raw.splitlines()
            if line != _MARK
            and not ((match := _ASSIGNMENT.match(line)) and match.group(1) == self.name)
        ]
        kept += [_MARK, f'{self.name}="{self.value}"']
        return "\n".join(kept) + "\n"

    def restorable(self, raw: str) -> str:
        return raw

    def show(self, raw: str) -> str:
        current = shell_variable(raw, self.name)
        return "unset" if current is None else f"{self.name}={current}"

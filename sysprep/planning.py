"""Planning: a pure function of (profile, layout, host facts, observed knob values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sysprep.checks import boot_parameters, missing_boot_words, missing_isolation
from sysprep.errors import MalformedValueError
from sysprep.host import HostFacts
from sysprep.knobs import DROPIN_PATH, Kind, Knob
from sysprep.layout import CpuLayout
from sysprep.profile import Profile
from sysprep.wanted import FileContent


@dataclass(frozen=True)
class Present:
    raw: str


@dataclass(frozen=True)
class Absent:
    pass


@dataclass(frozen=True)
class Unreadable:
    reason: str


Observation = Present | Absent | Unreadable


class Status(StrEnum):
    OK = "ok"
    CHANGE = "change"
    UNSUPPORTED = "unsupported"
    ERROR = "error"


@dataclass(frozen=True)
class Step:
    knob: Knob
    status: Status
    current: str | None = None  # for humans
    target: str | None = None  # text to write (CHANGE)
    original: str | None = None  # text that restores the current state; None: file absent
    settled: str | None = None  # what the knob holds once applied
    reason: str = ""

    @property
    def name(self) -> str:
        return self.knob.name

    @property
    def wanted(self) -> str:
        return self.knob.wanted.describe()


@dataclass(frozen=True)
class Override:
    """A sysctl.d file applied after ours at boot that sets a value we do not accept."""

    key: str
    value: str
    path: str


@dataclass(frozen=True)
class Plan:
    profile: str
    layout: CpuLayout
    steps: tuple[Step, ...]
    manual: tuple[str, ...]  # what only a person can do (boot parameters, swap)
    overrides: tuple[Override, ...]

    @property
    def changes(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.status is Status.CHANGE)

    @property
    def exit_code(self) -> int:
        """Terraform style: 1 error, 2 changes pending, 0 nothing to do."""
        if any(step.status is Status.ERROR for step in self.steps):
            return 1
        return 2 if self.changes else 0


def plan_step(knob: Knob, seen: Observation) -> Step:
    if knob.never is not None:
        return Step(knob, Status.UNSUPPORTED, reason=knob.never)
    if isinstance(seen, Unreadable):
        return Step(knob, Status.ERROR, reason=f"cannot read /{knob.path}: {seen.reason}")
    if isinstance(seen, Absent):
        if knob.create:
            target = knob.wanted.target("")
            return Step(knob, Status.CHANGE, current="absent", target=target, settled=target)
        return Step(knob, Status.UNSUPPORTED, reason=knob.absent)
    try:
        current = knob.wanted.show(seen.raw)
        if knob.wanted.satisfied(seen.raw):
            return Step(knob, Status.OK, current=current, settled=current)
        target = knob.wanted.target(seen.raw)
        original = knob.wanted.restorable(seen.raw)
    except MalformedValueError as err:
        return Step(knob, Status.ERROR, reason=f"malformed /{knob.path}: {err}")
    return Step(knob, Status.CHANGE, current, target, original, settled=target)


def render_dropin(profile: Profile, steps: tuple[Step, ...]) -> str:
    """The boot-time copy of every sysctl this profile manages, as apply leaves it."""
    lines = [
        f"# Written by `sysprep apply` (profile {profile.name}); removed by `sysprep revert`.",
        "# Edit the profile, not this file.",
    ]
    for step in steps:
        if step.knob.kind is Kind.SYSCTL and step.settled is not None:
            lines.append(f"{step.knob.sysctl_key} = {step.settled}")
    return "\n".join(lines) + "\n"


def _sysctl_assignments(text: str) -> list[tuple[str, str]]:
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;" or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        found.append((key.strip().lstrip("-").replace("/", "."), value.strip()))
    return found


def find_overrides(
    knobs: tuple[Knob, ...], files: tuple[tuple[str, str], ...]
) -> tuple[Override, ...]:
    """sysctl.d files read after our drop-in that would undo a value at the next boot."""
    ours = "/" + DROPIN_PATH
    wanted = {knob.sysctl_key: knob.wanted for knob in knobs if knob.sysctl_key and not knob.never}
    seen_ours = False
    names = [path.rsplit("/", 1)[-1] for path, _ in files]
    found: list[Override] = []
    for (path, text), name in zip(files, names, strict=True):
        if path == ours:
            seen_ours = True
            continue
        later = path == "/etc/sysctl.conf" or name > ours.rsplit("/", 1)[-1] or seen_ours
        for key, value in _sysctl_assignments(text):
            check = wanted.get(key)
            if not later or check is None:
                continue
            try:
                accepted = check.satisfied(value)
            except MalformedValueError:
                accepted = False
            if not accepted:
                found.append(Override(key, value, path))
    return tuple(found)


def _manual(profile: Profile, layout: CpuLayout, facts: HostFacts) -> tuple[str, ...]:
    notes = []
    missing = missing_isolation(profile, layout, facts)
    words = [boot_parameters(missing, layout)] if missing else []
    words += missing_boot_words(profile.boot, facts.cmdline)
    if words:
        notes.append(f"kernel command line: add `{' '.join(words)}` and reboot")
    if profile.swap_off and facts.swaps:
        notes.append(
            f"swap is on ({', '.join(facts.swaps)}): "
            "run `swapoff -a` and remove swap from /etc/fstab"
        )
    return tuple(notes)


def build_plan(
    profile: Profile,
    layout: CpuLayout,
    facts: HostFacts,
    knobs: tuple[Knob, ...],
    seen: Mapping[str, Observation],
) -> Plan:
    steps = tuple(plan_step(knob, seen.get(knob.path, Absent())) for knob in knobs)
    if profile.persist and any(knob.kind is Kind.SYSCTL for knob in knobs):
        dropin = Knob(
            "sysctl.d drop-in",
            DROPIN_PATH,
            FileContent(render_dropin(profile, steps)),
            Kind.FILE,
            create=True,
        )
        steps += (plan_step(dropin, seen.get(DROPIN_PATH, Absent())),)
    overrides = find_overrides(knobs, facts.sysctl_files)
    return Plan(profile.name, layout, steps, _manual(profile, layout, facts), overrides)

"""Every command in every runbook is real: the suite's own commands parse, system tools exist.

Commands are taken from fenced ``sh`` blocks, split into simple commands at pipes, `&&`, `;`
and command substitutions. The suite's CLIs are argparse programs: each command's arguments
go through the real parser, so a misspelt subcommand or flag fails here instead of at 3 am.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import exchange_sim.cli
import sysprep.cli
import trader.cli
import watchdog.daemon.cli

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = sorted((REPO / "runbooks").glob("*.md"))

SUITE: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "watchdog": watchdog.daemon.cli.build_parser,
    "sysprep": sysprep.cli._parser,  # the CLI's own parser (private name), not a copy
    "trader": trader.cli.build_parser,
    "exchange-sim": exchange_sim.cli.build_parser,
}
# System tools a runbook may use that a test machine may lack (no systemd as PID 1, no ssh).
ABSENT_HERE_ALLOWED = frozenset(
    {"systemctl", "journalctl", "ssh", "jq", "ss", "curl", "openssl", "update-grub", "install"}
)
_SEPARATORS = frozenset({"|", "||", "&&", ";", "&", "(", ")"})
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
_FENCE = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def sh_blocks(text: str) -> list[str]:
    return _FENCE.findall(text)


def commands(block: str) -> Iterator[list[str]]:
    """Simple commands of a shell block (continuations joined, comments dropped)."""
    for line in block.replace("\\\n", " ").splitlines():
        inner = _SUBSTITUTION.findall(line)
        line = _SUBSTITUTION.sub("1", line)  # stands for any word, a number too
        for text in (*inner, line):
            yield from _split(text)


def _split(text: str) -> Iterator[list[str]]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    current: list[str] = []
    for token in lexer:
        if token in _SEPARATORS:
            if current:
                yield current
            current = []
        else:
            current.append(token)
    if current:
        yield current


def _strip_redirections(words: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in (">", ">>", "<", "2>", "2>&1"):
            skip = word != "2>&1"
            continue
        kept.append(word)
    return kept


def check(words: list[str]) -> str | None:
    """None if the command is real, else why not."""
    words = _strip_redirections(words)
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]  # VAR=value prefix
    if words and words[0] == "sudo":
        words = words[1:]
    if not words:
        return None
    tool, args = words[0], words[1:]
    if tool in SUITE:
        return _parse(tool, args)
    if shutil.which(tool) is None and tool not in ABSENT_HERE_ALLOWED:
        return f"{tool}: not a known command"
    return None


def _parse(tool: str, args: list[str]) -> str | None:
    parser = SUITE[tool]()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(args)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return f"{tool} {' '.join(args)}: {err.getvalue().strip()}"
    return None


def problems(text: str) -> list[str]:
    found = []
    for block in sh_blocks(text):
        for words in commands(block):
            reason = check(words)
            if reason is not None:
                found.append(reason)
    return found


# -- the runbooks ------------------------------------------------------------------------


def test_there_is_a_runbook_for_each_situation() -> None:
    names = {path.stem for path in RUNBOOKS}
    assert {
        "README",
        "kill-switch-tripped",
        "rearm-after-trip",
        "watchdog-down-or-flapping",
        "trader-will-not-start",
        "feed-stale-latency-spikes",
        "venue-outage-during-kill",
        "key-rotation-after-kill",
        "host-provisioning-sysprep",
        "false-positive-tune-limit",
    } <= names


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda p: p.name)
def test_every_command_in_the_runbook_is_real(runbook: Path) -> None:
    text = runbook.read_text()
    assert sh_blocks(text), f"{runbook.name} has no command"
    assert problems(text) == []


@pytest.mark.parametrize("runbook", [p for p in RUNBOOKS if p.stem != "README"],
                         ids=lambda p: p.name)  # fmt: skip
def test_every_runbook_has_the_required_sections(runbook: Path) -> None:
    text = runbook.read_text().lower()
    for heading in ("## symptoms", "## what the system already did", "## verify", "## re-arm"):
        assert heading in text, f"{runbook.name}: missing {heading!r}"
    assert "## decisions" in text or "decision:" in text, f"{runbook.name}: no decisions"


def test_the_index_links_every_runbook() -> None:
    index = (REPO / "runbooks" / "README.md").read_text()
    for path in RUNBOOKS:
        if path.stem != "README":
            assert f"]({path.name})" in index, path.name


def test_links_between_runbooks_resolve() -> None:
    for path in RUNBOOKS:
        for target in re.findall(r"\]\(([\w.-]+\.md)\)", path.read_text()):
            assert (REPO / "runbooks" / target).is_file(), f"{path.name} -> {target}"


def test_the_kill_runbook_covers_every_cause() -> None:
    text = (REPO / "runbooks" / "kill-switch-tripped.md").read_text()
    for cause in ("process_exit", "heartbeat", "daily_loss", "drawdown", "order_rate",
                  "rejects", "divergence", "manual"):  # fmt: skip
        assert f"### {cause}" in text, cause


# -- the checker itself can fail ---------------------------------------------------------

BAD = """
```sh
watchdog rearm --trader t --reasn "typo" --config /etc/killswitch/watchdog.toml
watchdog stauts --config /etc/killswitch/watchdog.toml
sysprep verify --for traders
trader run --confg /etc/killswitch/trader.toml
exchange-sim --admin-prot 1
journalctl -u watchdog.service | grepp error
echo "$(sysprep plann)"
```
"""


def test_a_bad_flag_a_bad_subcommand_and_an_unknown_tool_are_each_caught() -> None:
    found = problems(BAD)
    assert len(found) == 7, found
    assert "--reasn" in found[0]
    assert "stauts" in found[1]
    assert "traders" in found[2]
    assert "--confg" in found[3]
    assert "--admin-prot" in found[4]
    assert found[5] == "grepp: not a known command"
    assert "plann" in found[6]


def test_good_commands_pass_through_pipes_substitutions_and_continuations() -> None:
    good = """
```sh
watchdog status --json --config /etc/killswitch/watchdog.toml | jq '.traders[] | {id}'
sysprep verify --for trader --pid "$(systemctl show trader.service -p MainPID --value)"
watchdog rearm --trader t --reason "fixed; tested" \\
  --operator alice --config /etc/killswitch/watchdog.toml
LC_ALL=C watchdog audit --limit 5 --socket /run/killswitch/control.sock > /tmp/audit.txt
```
"""
    assert problems(good) == []
    assert [c[0] for c in commands(sh_blocks(good)[0])] == [
        "watchdog",
        "jq",
        "systemctl",
        "sysprep",
        "watchdog",
        "LC_ALL=C",
    ]


def test_commands_outside_sh_blocks_are_not_checked() -> None:
    assert problems("```\nwatchdog stauts\n```\n`watchdog stauts`") == []

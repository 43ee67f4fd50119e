"""Every log event a runbook greps the journal for is an event the suite really logs.

A runbook line such as ``journalctl -u watchdog.service -o cat | grep -E 'refusing_to_arm|...'``
is only useful if each snake_case name in its pattern is an event name in the code: a renamed
or misspelt event makes the command print nothing, which reads as "nothing happened".
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = sorted((REPO / "runbooks").glob("*.md"))
SOURCES = [*sorted((REPO / "watchdog").rglob("*.py")), *sorted((REPO / "trader").rglob("*.py"))]
_EVENT_NAME = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def _journal_greps(text: str) -> list[tuple[str, str]]:
    """(line, pattern) for every `journalctl ... | grep ... PATTERN` in the runbook."""
    found = []
    for line in text.splitlines():
        if "journalctl" not in line or "| grep" not in line:
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for i, word in enumerate(words[:-1]):
            if word == "|" and words[i + 1] == "grep":
                args = words[i + 2 :]
                found.append((line, next(w for w in args if not w.startswith("-"))))
    return found


def _string_literals() -> set[str]:
    literals: set[str] = set()
    for path in SOURCES:
        literals.update(re.findall(r'"([a-z][a-z0-9_]*)"', path.read_text()))
    return literals


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda p: p.name)
def test_every_event_a_runbook_greps_for_is_logged(runbook: Path) -> None:
    logged = _string_literals()
    missing = [
        (name, line)
        for line, pattern in _journal_greps(runbook.read_text())
        for name in _EVENT_NAME.findall(pattern)
        if name not in logged
    ]
    assert missing == []


def test_the_grep_finder_sees_the_runbooks_greps() -> None:
    greps = [g for runbook in RUNBOOKS for g in _journal_greps(runbook.read_text())]
    assert any("refusing_to_arm" in pattern for _, pattern in greps)

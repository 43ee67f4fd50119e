"""The shipped alert rules load, their unit tests pass, and they name only real metrics.

`promtool` (Debian package: prometheus) checks the rules and runs
deploy/prometheus/killswitch.rules.test.yml. The name check catches a renamed metric, which
would otherwise silence an alert for good: an expression over a series that never exists is
simply never true.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "deploy" / "prometheus"
RULES = RULES_DIR / "killswitch.rules.yml"
RULE_TESTS = RULES_DIR / "killswitch.rules.test.yml"
SCRAPE_CONFIG = RULES_DIR / "prometheus.yml"
# Where the exporters define their metric names.
SOURCES = ("watchdog", "trader")
_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool not installed (Debian package: prometheus)")
    return tool


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=RULES_DIR,
    )


def test_rules_are_valid() -> None:
    result = _run("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = _run("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_threshold_fails_the_rule_unit_tests(tmp_path: pathlib.Path) -> None:
    """The unit tests can fail: a dead man's switch threshold moved out of reach is caught."""
    text = RULES.read_text()
    assert "killswitch_venue_dms_refreshed_timestamp_seconds > 7" in text
    (tmp_path / RULES.name).write_text(text.replace("_seconds > 7", "_seconds > 700"))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    result = subprocess.run(
        [_promtool(), "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "DeadMansSwitchNotRefreshed" in result.stdout + result.stderr


def test_scrape_config_is_valid() -> None:
    result = _run("check", "config", SCRAPE_CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr


def _metric_names(text: str) -> set[str]:
    exprs = re.findall(r"^\s*expr: (.+(?:\n\s{10,}\S.*)*)", text, flags=re.MULTILINE)
    names = set()
    for expr in exprs:
        names.update(re.findall(r"\b((?:killswitch|trader)_[a-z0-9_]+)", expr))
    return names


def _base_name(metric: str) -> str:
    for suffix in _SUFFIXES:
        if metric.endswith(suffix):
            return metric[: -len(suffix)]
    return metric


def test_every_metric_in_the_rules_is_defined_by_an_exporter() -> None:
    sources = "\n".join(
        path.read_text() for part in SOURCES for path in (REPO / part).rglob("*.py")
    )
    names = _metric_names(RULES.read_text())
    assert "killswitch_latched" in names  # the extraction itself works
    missing = sorted(m for m in names if f'"{_base_name(m)}"' not in sources)
    assert not missing, f"alert rules name metrics no exporter defines: {missing}"


def test_every_alert_links_an_existing_runbook() -> None:
    urls = re.findall(r"runbook_url: '([^']+)'", RULES.read_text())
    assert urls
    alerts = re.findall(r"- alert: (\w+)", RULES.read_text())
    assert len(urls) == len(alerts), "every alert needs a runbook_url"
    base = "{{ $externalLabels.runbook_base_url }}/"
    relative = [u for u in urls if not u.startswith(base)]
    assert not relative, f"runbook_url must start from the configurable base: {relative}"
    missing = sorted({u for u in urls if not (REPO / "runbooks" / u.removeprefix(base)).is_file()})
    assert not missing, f"runbook_url names missing files: {missing}"


def test_the_example_config_sets_an_absolute_runbook_base() -> None:
    """Without the label every runbook_url would be a bare path that no browser can open."""
    config = (REPO / "deploy" / "prometheus" / "prometheus.yml").read_text()
    (base,) = re.findall(r"^    runbook_base_url: (\S+)$", config, re.MULTILINE)
    assert base.startswith("https://")
    assert base.endswith("/runbooks")

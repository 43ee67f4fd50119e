"""ethtool's text output parsed into settings; the command driven through a stand-in on PATH.

The real ethtool against a real driver without coalescing (a veth) runs in the namespace
round trip of test_real_netns.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sysprep.ethtool import EthtoolUnsupported, RealEthtool, parse_coalesce, parse_rings

COALESCE = """\
Coalesce parameters for eth0:
Adaptive RX: off  TX: n/a
stats-block-usecs: n/a
sample-interval: n/a

rx-usecs: 0
rx-frames: 1
rx-usecs-irq: n/a

tx-usecs: 0
CQE mode RX: n/a  TX: n/a

"""

RINGS = """\
Ring parameters for eth0:
Pre-set maximums:
RX:		4096
RX Mini:	n/a
RX Jumbo:	n/a
TX:		4096
Current hardware settings:
RX:		256
RX Mini:	n/a
RX Jumbo:	n/a
TX:		256
RX Buf Len:		n/a
TX Push:	off
"""


def test_coalescing_is_read_with_the_names_ethtool_sets_them_by() -> None:
    view = parse_coalesce(COALESCE)
    assert view.current["adaptive-rx"] == "off"
    assert view.current["adaptive-tx"] == "n/a"
    assert view.current["rx-usecs"] == "0"
    assert view.current["rx-frames"] == "1"
    assert "cqe-mode-rx" not in view.current


def test_rings_are_read_with_their_maximums() -> None:
    view = parse_rings(RINGS)
    assert (view.current["rx"], view.maxima["rx"]) == ("256", "4096")
    assert view.current["rx-mini"] == "n/a"
    assert view.current["tx-push"] == "off"


# A stand-in `ethtool` on PATH: logs its arguments, prints canned output, or fails like a
# driver without the operation for a NIC named "bare".
FAKE_ETHTOOL = f"""#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
NOAF="Address family not supported by protocol"
case "$2" in
  bare) echo "netlink error: Operation not supported" >&2; exit 1 ;;
  walled) echo "Cannot get device coalesce settings: $NOAF" >&2; exit 1 ;;
esac
case "$1" in
  -c) cat <<'OUT'
{COALESCE}OUT
  ;;
  -C) exit 0 ;;
esac
"""


@pytest.fixture
def fake_ethtool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "ethtool"
    script.write_text(FAKE_ETHTOOL)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")  # ours first; sh, cat, dirname
    return tmp_path / "calls"


def test_one_survey_runs_ethtool_once_per_group_and_rereads_after_a_set(
    fake_ethtool: Path,
) -> None:
    tool = RealEthtool()
    assert tool.show("eth0", "coalesce").current["rx-usecs"] == "0"
    assert tool.show("eth0", "coalesce").current["adaptive-rx"] == "off"
    tool.set("eth0", "coalesce", "rx-usecs", "0")
    tool.show("eth0", "coalesce")
    assert fake_ethtool.read_text().splitlines() == ["-c eth0", "-C eth0 rx-usecs 0", "-c eth0"]


def test_a_driver_without_the_operation_is_unsupported_with_ethtools_words(
    fake_ethtool: Path,
) -> None:
    with pytest.raises(EthtoolUnsupported, match=r"cannot report coalesce \(netlink error"):
        RealEthtool().show("bare", "coalesce")
    with pytest.raises(OSError, match="ethtool -C bare rx-usecs 0: netlink error"):
        RealEthtool().set("bare", "coalesce", "rx-usecs", "0")


def test_ethtool_kept_from_the_kernel_is_an_error_not_an_unsupported_driver(
    fake_ethtool: Path,
) -> None:
    """A sandbox without AF_NETLINK fails with another "not supported": not the driver's."""
    with pytest.raises(OSError, match="ethtool -c walled: Cannot get") as caught:
        RealEthtool().show("walled", "coalesce")
    assert not isinstance(caught.value, EthtoolUnsupported)


def test_a_host_without_ethtool_says_which_package_brings_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EthtoolUnsupported, match="ethtool is not installed"):
        RealEthtool().show("eth0", "rings")

"""ethtool's text output parsed into settings; the real command on a veth it cannot tune."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from sysprep.ethtool import EthtoolUnsupported, RealEthtool, parse_coalesce, parse_rings
from tests.sysprep.helpers import need_root_and

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


@pytest.fixture
def veth() -> Iterator[str]:
    need_root_and("ip")
    if shutil.which("ethtool") is None:
        pytest.skip("`ethtool` is not installed (Debian package: ethtool)")
    name = "spv0"
    subprocess.run(
        ["ip", "link", "add", name, "type", "veth", "peer", "name", "spv1"], check=True, timeout=30
    )
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=True, timeout=30)


def test_a_driver_without_coalescing_is_unsupported_not_an_error(veth: str) -> None:
    with pytest.raises(EthtoolUnsupported, match=f"the driver of {veth} cannot report coalesce"):
        RealEthtool().show(veth, "coalesce")

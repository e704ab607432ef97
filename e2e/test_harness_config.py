"""The mxgate.toml the harness writes is accepted by `mxgate check-config` (no Synapse needed).

Keeps the harness and the config contract (crates/mxgate-core/src/config.rs) in step: every
variant the e2e tests use (TLS inbound, admin, outbound proxy, fetched and pinned keys).
"""

from __future__ import annotations

import subprocess

import pytest

from harness import Federation, mxgate_binary


def _check_config_missing() -> str | None:
    binary = mxgate_binary()
    if not binary.exists():
        return f"mxgate binary not built ({binary})"
    out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=20)
    return None if "check-config" in out.stdout + out.stderr else "`mxgate --help` lists no check-config yet"


@pytest.mark.skipif(_check_config_missing() is not None, reason=str(_check_config_missing()))
@pytest.mark.parametrize("outbound", [False, True])
def test_generated_gateway_config_passes_check_config(outbound: bool):
    fed = Federation()
    try:
        hs1 = fed.add_server("hs1", role="gateway", outbound=outbound)
        hs2 = fed.add_server("hs2")
        hs3 = fed.add_server("hs3")
        hs1.trust(hs2, tier="external", pin_keys=True)
        hs1.trust(hs3, tier="external")
        fed.write_configs()
        assert hs1.gateway is not None
        out = subprocess.run(
            [str(mxgate_binary()), "check-config", "--config", str(hs1.gateway.config_path)],
            capture_output=True, text=True, timeout=20,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        summary = out.stdout + out.stderr
        assert hs1.server_name in summary and hs2.server_name in summary
    finally:
        fed.stop()

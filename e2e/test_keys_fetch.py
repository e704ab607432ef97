"""``mxgate keys fetch`` against a real Synapse's key endpoint.

One direct Synapse (TLS on its server-name port, certificate from the harness CA).
``mxgate keys fetch 127.0.0.1:PORT --ca ca.pem`` must print a ``[[remote]]`` block whose
pinned key is the Synapse's own signing key, and that block must pass
``mxgate check-config`` when pasted into a configuration.
"""

from __future__ import annotations

import hashlib
import base64
import subprocess

import pytest

from conftest import watched
from harness import Federation, mxgate_binary

pytestmark = pytest.mark.skipif(not mxgate_binary().exists(), reason="mxgate binary not built")


@pytest.fixture(scope="module")
def fed(request: pytest.FixtureRequest):
    with watched(request, Federation()) as federation:
        federation.add_server("hs1")
        federation.start()
        yield federation


def keys_fetch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(mxgate_binary()), "keys", "fetch", *args], capture_output=True, text=True, timeout=60
    )


def test_block_pins_the_synapse_signing_key(fed: Federation):
    (hs1,) = fed.servers
    out = keys_fetch(hs1.server_name, "--ca", str(fed.ca.cert))
    assert out.returncode == 0, out.stderr
    block = out.stdout
    assert f'server_name = "{hs1.server_name}"' in block
    assert f'address = "{hs1.server_name}"' in block
    assert f'keys = {{ "{hs1.key_id}" = "{hs1.verify_key_base64}" }}' in block, block
    raw = base64.b64decode(hs1.verify_key_base64 + "=" * (-len(hs1.verify_key_base64) % 4))
    fingerprint = base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
    assert f"# {hs1.key_id}: sha256 fingerprint {fingerprint}, valid until " in block, block

    config = fed.dir / "pasted.toml"
    config.write_text(
        "[gateway]\n"
        f'state_dir = "{fed.dir}"\n'
        "[inbound]\n"
        'listen = "127.0.0.1:0"\n'
        "[[homeserver]]\n"
        'server_name = "ours.test"\n'
        'upstream = "http://127.0.0.1:1"\n' + block
    )
    check = subprocess.run(
        [str(mxgate_binary()), "check-config", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_untrusted_certificate_fails_without_a_block(fed: Federation):
    (hs1,) = fed.servers
    out = keys_fetch(hs1.server_name)  # system roots: the harness CA is not trusted
    assert out.returncode == 1
    assert out.stdout == ""
    assert "tls_handshake" in out.stderr, out.stderr

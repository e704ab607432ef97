"""End-to-end harness: real Synapse homeservers (and mxgate) on loopback.

Everything runs in one temporary directory: a local CA and leaf certificates (openssl,
IP SAN 127.0.0.1), one ``homeserver.yaml`` per server with an IP-literal server name
``127.0.0.1:PORT``, signing keys, logs, and an ``mxgate.toml`` for every server that sits
behind the gateway. Only 127.0.0.1 is ever bound or contacted.

Server roles:

- ``direct``: Synapse's own TLS federation listener is on the server-name port.
- ``gateway``: Synapse's federation listener is plain HTTP on another port; mxgate binds the
  server-name port with TLS and forwards to it (``[inbound]``).
- ``outbound=True`` (with ``gateway``): Synapse sends all its federation through mxgate's
  ``[outbound]`` listener (Synapse's federation-proxy protocol).

Typical use::

    with Federation() as fed:
        hs1 = fed.add_server("hs1")
        hs2 = fed.add_server("hs2")
        fed.start()
        alice = hs2.register("alice")
        bob = hs1.register("bob")
        room = alice.create_room(preset="private_chat")
        alice.invite(room, bob.user_id)
        bob.wait_for_invite(room)
        bob.join(room, via=hs2.server_name)
"""

from harness.client import User, q
from harness.configs import Gateway, Remote
from harness.errors import HarnessError, MatrixError
from harness.federation import Federation, Homeserver
from harness.module import ensure_module_installed
from harness.procs import (
    LOOPBACK,
    TIMINGS,
    LocalCA,
    Process,
    free_port,
    load_signing_key,
    mxgate_binary,
    mxgate_serve_missing,
    wait_until,
)

__all__ = [
    "LOOPBACK",
    "TIMINGS",
    "Federation",
    "Gateway",
    "HarnessError",
    "Homeserver",
    "LocalCA",
    "MatrixError",
    "Process",
    "Remote",
    "User",
    "ensure_module_installed",
    "free_port",
    "load_signing_key",
    "mxgate_binary",
    "mxgate_serve_missing",
    "q",
    "wait_until",
]

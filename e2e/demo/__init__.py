"""The one-command demo (``./scripts/demo``): a small private federation through mxgate on
loopback, and a narrated tour of what the gateway and the trust module allow and refuse.

Servers (all Synapse 1.163, all on 127.0.0.1):

- ``hs-a`` (``127.0.0.1:P``) and ``hs-b`` (``localhost:P``): our two internal homeservers.
  Both names point at the SAME port P, where ONE mxgate listens (TLS, certificate chosen by
  SNI) and forwards to each Synapse's private plain-HTTP federation listener. Both load the
  trust module (``mxgate_synapse.TrustModule``) with the gateway's own ``mxgate.toml``.
  When this build of mxgate serves ``[outbound]``, both also send their federation through
  it (Synapse's federation-proxy protocol).
- ``la``: a trusted outside server, tier ``local_authority`` (may moderate, may join public rooms).
- ``ext``: a trusted outside server, tier ``external`` (no extra rights).
- ``unk``: a server the configuration does not list.

The three outside servers federate directly (their own TLS). Layout: ``setup.py`` builds
and starts the federation (on top of ``e2e/harness``), ``tour.py`` runs the narrated steps,
``narrate.py`` prints, ``__main__.py`` is the entry point (``python -m demo [--once]``).
"""

from demo.tour import run

__all__ = ["run"]

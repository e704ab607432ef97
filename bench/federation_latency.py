"""Real-federation latency with and without mxgate (issue 7's last target), on loopback.

Two small federations of real Synapse homeservers run side by side and are measured in
interleaved rounds (A, B, A, B, ...):

- **A (direct)**: hs1 and hs2 federate without mxgate. hs1's Synapse serves federation in
  plain HTTP behind nginx (one worker), which terminates TLS on hs1's server-name port, so
  inbound TLS is terminated by a fast proxy in both setups (Synapse's own TLS listener is
  slow, see /work/shared/notes/synapse-on-loopback.md). hs1 sends its federation itself
  (Synapse's TLS client, pooled connections).
- **B (mxgate)**: hs1 behind mxgate both ways: mxgate terminates TLS on hs1's server-name
  port and verifies every request (``[inbound]``), and hs1's Synapse sends all its
  federation through mxgate's ``[outbound]`` listener (Synapse's federation-proxy
  protocol; mxgate speaks TLS to hs2 with pooled connections).

In both, hs2 is a plain Synapse with its own TLS listener. One room per setup, made on hs1,
with alice (hs1) and bob (hs2). Per message: ``t0`` before the sender's ``PUT /send``,
``t1`` when it returned, ``t2`` when the message arrived in a long-polling ``/sync`` of the
receiver (a thread that always has a ``/sync`` request waiting). Figures: end to end
``t2 - t0`` and the federation part ``t2 - t1``. Directions: ``out`` = alice -> bob (through
mxgate's outbound side in B), ``in`` = bob -> alice (through mxgate's inbound side in B).
``--interleave round`` (default) runs all messages of A, then all of B, each round;
``--interleave message`` alternates A and B message by message (same moment's load).
The sender's ``PUT`` time is reported as a control: mxgate is not on its path.

Run (after ``cargo build --release -p mxgate``)::

    target/py/bin/python bench/federation_latency.py                # 50 msgs, 3 rounds each
    target/py/bin/python bench/federation_latency.py --messages 100 --rounds 5 --json /tmp/fl.json
    target/py/bin/python bench/federation_latency.py --interleave message

Only 127.0.0.1 is bound or contacted; every process is stopped at the end (also on
Ctrl-C, SIGTERM or an error), and the whole run is bounded by ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import sys
import threading
import time
import urllib.parse
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "e2e"))
os.environ.setdefault("MXGATE_BIN", str(REPO_ROOT / "target" / "release" / "mxgate"))

from harness import (  # noqa: E402
    LOOPBACK,
    Federation,
    HarnessError,
    Homeserver,
    MatrixError,
    Process,
    mxgate_binary,
    mxgate_serve_missing,
    q,
    wait_until,
)
from harness.client import json_or_raise  # noqa: E402

TARGET_P50_DELTA_MS = 2.0
DIRECTIONS = ("out", "in")
# A /sync long-poll returns at the latest after this long when nothing arrives.
SYNC_POLL_MS = 1000
# Keep /sync responses small: only the timeline, no presence or account data.
SYNC_FILTER = json.dumps({
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "timeline": {"limit": 20, "types": ["m.room.message"]},
        "state": {"lazy_load_members": True},
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
    },
}, separators=(",", ":"))


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the interleaved rounds, print the report; 0, or 1 on a failure."""
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    problem = _missing_tools()
    if problem:
        print(f"federation_latency: {problem}", file=sys.stderr)
        return 1
    started = time.monotonic()
    results: dict[tuple[str, str], list[Sample]] = {}
    try:
        through = run(args, started + args.max_seconds, results)
    except (HarnessError, MatrixError, httpx.HTTPError) as err:
        print(f"federation_latency: failed after {time.monotonic() - started:.0f} s: {err}", file=sys.stderr)
        return 1
    runtime = time.monotonic() - started
    summary = summarize(results, args)
    print(render(summary, args, runtime, through))
    if args.json:
        _write_json(Path(args.json), results, summary, args, runtime, through)
    return 0


def run(args: argparse.Namespace, deadline: float,
        results: dict[tuple[str, str], list[Sample]]) -> dict[str, dict[str, float]]:
    """Start both setups, run the rounds into ``results``; mxgate's /send counts per setup.

    Every process is stopped on the way out, whatever happens.
    """
    started = time.monotonic()
    with ExitStack() as stack:
        setups = [stack.enter_context(_started(make)) for make in (setup_direct, setup_mxgate)]
        print(f"[fedlat] setups ready after {time.monotonic() - started:.1f} s", file=sys.stderr)
        for round_no in range(1, args.rounds + 1):
            for (name, direction), samples in run_round(setups, round_no, args, deadline).items():
                results.setdefault((name, direction), []).extend(samples)
                _progress(name, direction, round_no, samples)
        return {s.name: s.gateway_counts() for s in setups}


# -- setups ------------------------------------------------------------------------------


@dataclass
class Setup:
    """One running federation (hs1 + hs2) with a shared room and a user on each side."""

    name: str
    label: str
    fed: Federation
    hs1: Homeserver
    hs2: Homeserver
    alice: "Client"
    bob: "Client"
    room: str

    def ends(self, direction: str) -> tuple["Client", "Client"]:
        """(sender, receiver) for ``out`` (hs1 -> hs2) or ``in`` (hs2 -> hs1)."""
        return (self.alice, self.bob) if direction == "out" else (self.bob, self.alice)

    def gateway_counts(self) -> dict[str, float]:
        """Accepted ``/send`` requests counted by hs1's mxgate, by direction (B only)."""
        gateway = self.hs1.gateway
        if gateway is None:
            return {}
        counts: dict[str, float] = {}
        for line in gateway.metrics().splitlines():
            match = re.fullmatch(r"mxgate_requests_total\{(.*)\} (\S+)", line.strip())
            if match is None:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            if labels.get("endpoint") == "send" and labels.get("verdict") == "accepted":
                key = labels.get("direction", "?")
                counts[key] = counts.get(key, 0.0) + float(match.group(2))
        return counts


def setup_direct() -> tuple[Federation, str, str]:
    """Setup A: hs1's plain-HTTP federation listener behind nginx (TLS), no mxgate."""
    fed = NginxFrontedFederation()
    fed.add_server("hs1", role="gateway")
    fed.add_server("hs2")
    return fed, "A", "direct (nginx TLS in front of hs1)"


def setup_mxgate() -> tuple[Federation, str, str]:
    """Setup B: hs1 behind mxgate for inbound and outbound federation."""
    fed = Federation()
    hs1 = fed.add_server("hs1", role="gateway", outbound=True)
    hs2 = fed.add_server("hs2")
    hs1.trust(hs2, tier="external")
    return fed, "B", "mxgate (inbound + outbound)"


class NginxFrontedFederation(Federation):
    """A federation whose ``gateway``-role servers sit behind nginx instead of mxgate.

    Synapse's config is the harness's ``gateway`` one (plain-HTTP federation listener on a
    private port, ``x_forwarded``); nginx binds the server-name port with the same
    certificate mxgate would use and proxies to that listener over a keep-alive pool.
    """

    def write_configs(self) -> None:
        """Write every homeserver.yaml; no mxgate.toml (nginx takes the gateway's place)."""
        from harness.configs import write_synapse_config

        for server in self.servers:
            write_synapse_config(self, server)

    def start(self) -> None:
        """Start the Synapses (harness), then one nginx per fronted server; wait for them."""
        super().start()
        for server in self.servers:
            if server.role == "gateway":
                proc = self._spawn_nginx(server)
                wait_until(lambda: _port_open(server.port), 30, f"{server.label} nginx ready", alive=proc)

    def _spawn_nginx(self, server: Homeserver) -> Process:
        ngx_dir = server.dir / "nginx"
        ngx_dir.mkdir()
        conf = ngx_dir / "nginx.conf"
        conf.write_text(_nginx_config(server, ngx_dir))
        log = ngx_dir / "nginx-error.log"
        argv = [_nginx_binary(), "-p", str(ngx_dir), "-e", str(log), "-c", str(conf)]
        proc = Process(f"{server.label} nginx", argv, ngx_dir, [log], stdout=ngx_dir / "nginx.out")
        self.processes.append(proc)
        return proc


def _nginx_config(server: Homeserver, ngx_dir: Path) -> str:
    temp = "\n".join(f"  {kind}_temp_path {ngx_dir / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""daemon off;
master_process on;
worker_processes 1;
pid {ngx_dir / 'nginx.pid'};
error_log {ngx_dir / 'nginx-error.log'} warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temp}
  client_max_body_size 8m;
  client_body_buffer_size 1m;
  keepalive_timeout 300s;
  upstream synapse_federation {{
    server {LOOPBACK}:{server.synapse_fed_port};
    keepalive 16;
  }}
  server {{
    listen {server.server_name} ssl;
    ssl_certificate {server.cert};
    ssl_certificate_key {server.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{
      proxy_pass http://synapse_federation;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_read_timeout 120s;
    }}
  }}
}}
"""


class _started:
    """Context manager: build a setup, start its federation, make the room; stop at exit."""

    def __init__(self, make):
        self.make = make
        self.fed: Federation | None = None

    def __enter__(self) -> Setup:
        fed, name, label = self.make()
        self.fed = fed
        try:
            fed.start()
            return _make_room(fed, name, label)
        except BaseException:
            fed.failed = True
            fed.dump_logs()
            fed.stop()
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.fed is not None
        if exc_type is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            self.fed.failed = True
            self.fed.dump_logs()
        self.fed.stop()


def _make_room(fed: Federation, name: str, label: str) -> Setup:
    hs1, hs2 = fed.servers
    alice = Client.register(hs1, "alice")
    bob = Client.register(hs2, "bob")
    room = alice.call("POST", "/_matrix/client/v3/createRoom",
                      {"preset": "private_chat", "name": f"fedlat {name}"})["room_id"]
    alice.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/invite", {"user_id": bob.user_id})
    wait_until(lambda: bob.has_invite(room), 60, f"{name}: bob invited")
    bob.call("POST", f"/_matrix/client/v3/join/{q(room)}?server_name={q(hs1.server_name)}", {})
    wait_until(lambda: alice.member_joined(room, bob.user_id), 60, f"{name}: bob joined")
    return Setup(name, label, fed, hs1, hs2, alice, bob, room)


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Sample:
    """One message, in ms: end to end (PUT start -> seen in /sync), after the PUT returned,
    and the PUT itself (the control); ``index`` pairs it with the other setup's message."""

    round: int
    index: int
    end_to_end_ms: float
    federation_ms: float
    put_ms: float


def run_round(setups: list[Setup], round_no: int, args: argparse.Namespace,
              deadline: float) -> dict[tuple[str, str], list[Sample]]:
    """One round of every setup and direction; samples by (setup name, direction).

    ``--interleave round`` (default): all messages of A, then all of B (per direction).
    ``--interleave message``: A and B alternate message by message, so that both see the
    same moment's machine load (the pairs (A_i, B_i) are compared in the report).
    """
    out: dict[tuple[str, str], list[Sample]] = {}
    total = args.warmup + args.messages
    for direction in args.directions:
        groups = [setups] if args.interleave == "message" else [[s] for s in setups]
        for group in groups:
            with ExitStack() as stack:
                watchers = [stack.enter_context(SyncWatcher(*_receiver(s, direction))) for s in group]
                for i in range(total):
                    for setup, watcher in zip(group, watchers):
                        sample = one_message(setup, direction, watcher, round_no, i, deadline)
                        if i >= args.warmup:
                            out.setdefault((setup.name, direction), []).append(sample)
    return out


def one_message(setup: Setup, direction: str, watcher: "SyncWatcher", round_no: int, index: int,
                deadline: float) -> Sample:
    """Send one message and wait until the receiver's /sync has it."""
    if time.monotonic() > deadline:
        raise HarnessError("--max-seconds reached before the run finished")
    sender, _ = setup.ends(direction)
    body = f"fedlat {setup.name} {direction} r{round_no} #{index} {secrets.token_hex(4)}"
    t0 = time.perf_counter()
    sender.send_message(setup.room, body)
    t1 = time.perf_counter()
    t2 = watcher.wait_for(body, timeout=min(30.0, max(1.0, deadline - time.monotonic())))
    if t2 is None:
        raise HarnessError(f"{setup.name} {direction}: {body!r} not seen by the receiver in time")
    return Sample(round_no, index, (t2 - t0) * 1e3, (t2 - t1) * 1e3, (t1 - t0) * 1e3)


def _receiver(setup: Setup, direction: str) -> tuple["Client", str]:
    return setup.ends(direction)[1], setup.room


class SyncWatcher:
    """A thread that keeps one long-polling ``/sync`` waiting and timestamps arriving messages."""

    def __init__(self, client: "Client", room: str):
        self.client = client
        self.room = room
        self.seen: dict[str, float] = {}
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=SYNC_POLL_MS / 1000 + 30)
        self._since = self._sync(0)[0]
        self._thread = threading.Thread(target=self._run, name="sync-watcher", daemon=True)

    def __enter__(self) -> "SyncWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(SYNC_POLL_MS / 1000 + 35)
        self._http.close()

    def wait_for(self, body: str, timeout: float) -> float | None:
        """The ``perf_counter`` time at which ``body`` arrived, or None after ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: body in self.seen or self.error is not None, timeout)
            if self.error is not None:
                raise HarnessError(f"/sync of {self.client.user_id} failed: {self.error}")
            return self.seen.get(body)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                since, bodies = self._sync(SYNC_POLL_MS)
                arrived = time.perf_counter()
                with self._cond:
                    self._since = since
                    for body in bodies:
                        self.seen.setdefault(body, arrived)
                    self._cond.notify_all()
        except BaseException as err:  # reported to the waiting thread
            with self._cond:
                self.error = err
                self._cond.notify_all()

    def _sync(self, timeout_ms: int) -> tuple[str, list[str]]:
        params = {"timeout": str(timeout_ms), "filter": SYNC_FILTER}
        if timeout_ms and getattr(self, "_since", None):
            params["since"] = self._since
        reply = self.client.get(self._http, "/_matrix/client/v3/sync", params)
        events = reply.get("rooms", {}).get("join", {}).get(self.room, {}).get("timeline", {}).get("events", [])
        bodies = [e.get("content", {}).get("body") for e in events if e.get("type") == "m.room.message"]
        return reply["next_batch"], [b for b in bodies if isinstance(b, str)]


@dataclass
class Client:
    """A logged-in user with one keep-alive HTTP connection to its homeserver's client API."""

    server: Homeserver
    user_id: str
    token: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @classmethod
    def register(cls, server: Homeserver, localpart: str) -> "Client":
        """Register through the harness (shared-secret admin API) and keep the token."""
        user = server.register(localpart)
        return cls(server, user.user_id, user.access_token)

    def send_message(self, room: str, body: str) -> None:
        """``PUT`` one ``m.text`` message (returns when the sender's server has it)."""
        path = f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/{secrets.token_hex(8)}"
        self.call("PUT", path, {"msgtype": "m.text", "body": body})

    def has_invite(self, room: str) -> bool:
        """True when ``room`` is in this user's invites (one /sync)."""
        return room in self.get(self.http, "/_matrix/client/v3/sync", {"timeout": "0"}).get(
            "rooms", {}).get("invite", {})

    def member_joined(self, room: str, user_id: str) -> bool:
        """True when this user's server has ``user_id`` joined to ``room``."""
        path = f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.member/{q(user_id)}"
        reply = self.http.get(self._url(path), headers=self._auth())
        return reply.status_code == 200 and reply.json().get("membership") == "join"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A client-server API call on the keep-alive connection; the JSON reply."""
        reply = self.http.request(method, self._url(path), json=body, headers=self._auth())
        return json_or_raise(reply, method, path)

    def get(self, http: httpx.Client, path: str, params: dict[str, str]) -> Any:
        """``GET`` with query parameters on ``http`` (e.g. a watcher's own connection)."""
        url = f"{self._url(path)}?{urllib.parse.urlencode(params)}"
        return json_or_raise(http.get(url, headers=self._auth()), "GET", path)

    def _url(self, path: str) -> str:
        return f"{self.server.client_url}{path}"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# -- figures -----------------------------------------------------------------------------


METRICS = (("end_to_end_ms", "end-to-end"), ("federation_ms", "after PUT"), ("put_ms", "PUT"))


def summarize(results: dict[tuple[str, str], list[Sample]], args: argparse.Namespace) -> dict[str, Any]:
    """Percentiles per (setup, direction) and the B - A differences of the p50s.

    Three estimates of the difference: pooled p50(B) - p50(A); the median of the per-round
    p50 differences; the median of the differences of paired messages (A_i, B_i of the same
    round; meaningful with ``--interleave message``). ``PUT`` is a control: mxgate is not on
    the path of the sender's client request, so its B - A is the noise of the machine.
    The 95 % interval of the pooled difference is a bootstrap over messages: it does not
    capture drift between rounds (use ``--interleave message`` for that).
    """
    out: dict[str, Any] = {"setups": {}, "deltas": {}}
    for (name, direction), samples in results.items():
        entry = {}
        for metric, _ in METRICS:
            values = [getattr(s, metric) for s in samples]
            per_round = [_nearest_rank([getattr(s, metric) for s in samples if s.round == r], 50)
                         for r in range(1, args.rounds + 1)]
            entry[metric] = {
                "n": len(values),
                "p50": _nearest_rank(values, 50),
                "p90": _nearest_rank(values, 90),
                "p99": _nearest_rank(values, 99),
                "round_p50s": per_round,
            }
        out["setups"][f"{name}/{direction}"] = entry
    for direction in args.directions:
        a, b = out["setups"][f"A/{direction}"], out["setups"][f"B/{direction}"]
        pairs = _pairs(results[("A", direction)], results[("B", direction)])
        out["deltas"][direction] = {
            metric: {
                "pooled_p50": b[metric]["p50"] - a[metric]["p50"],
                "median_of_round_deltas": statistics.median(
                    rb - ra for ra, rb in zip(a[metric]["round_p50s"], b[metric]["round_p50s"])),
                "median_of_paired_deltas": statistics.median(
                    getattr(sb, metric) - getattr(sa, metric) for sa, sb in pairs),
                "pooled_p50_ci95": _bootstrap_ci(
                    [getattr(x, metric) for x in results[("A", direction)]],
                    [getattr(x, metric) for x in results[("B", direction)]]),
                "paired_median_ci95": _bootstrap_ci(
                    [0.0], [getattr(sb, metric) - getattr(sa, metric) for sa, sb in pairs]),
            }
            for metric, _ in METRICS
        }
    return out


def render(summary: dict[str, Any], args: argparse.Namespace, runtime: float,
           through: dict[str, dict[str, float]]) -> str:
    """The human-readable report."""
    lines = [
        f"Real federation latency, Synapse on loopback: {args.messages} sequential messages x "
        f"{args.rounds} rounds per setup, interleaved by {args.interleave} "
        f"({args.warmup} warm-up messages per run not counted)",
        "  A = hs1 direct (nginx terminates TLS for hs1's federation listener; hs1's Synapse sends itself)",
        "  B = hs1 behind mxgate: [inbound] TLS + verify, and all of hs1's outbound via [outbound]",
        "  out = hs1 user -> hs2 user;  in = hs2 user -> hs1 user;  hs2 is a plain Synapse (own TLS) in both",
        "",
        f"{'setup/dir':<9} {'metric':<11} {'n':>4} {'p50':>7} {'p90':>7} {'p99':>7}   per-round p50s (ms)",
    ]
    for key, entry in sorted(summary["setups"].items(), key=lambda kv: (kv[0][2:], kv[0][0])):
        for metric, title in METRICS:
            e = entry[metric]
            rounds = " ".join(f"{v:.1f}" for v in e["round_p50s"])
            lines.append(f"{key:<9} {title:<11} {e['n']:>4} {e['p50']:>7.1f} {e['p90']:>7.1f} "
                         f"{e['p99']:>7.1f}   {rounds}")
    paired = args.interleave == "message"
    lines += ["", "p50 difference B - A (ms), with 95% bootstrap intervals: pooled p50s | median of "
              "per-round deltas | median of paired deltas (A_i, B_i)",
              f"  (verdict from the {'paired' if paired else 'pooled'} estimate)"]
    for direction, delta in summary["deltas"].items():
        control = delta["put_ms"]["paired_median_ci95" if paired else "pooled_p50_ci95"]
        for metric, title in METRICS:
            d = delta[metric]
            low, high = d["pooled_p50_ci95"]
            plow, phigh = d["paired_median_ci95"]
            point, vlow, vhigh = ((d["median_of_paired_deltas"], plow, phigh) if paired
                                  else (d["pooled_p50"], low, high))
            if metric == "put_ms":
                verdict = "control (mxgate not on this path)"
            elif control[0] > 0 or control[1] < 0:
                verdict = "not resolved (the control moved too: load drift between A and B)"
            else:
                verdict = f"<= +{TARGET_P50_DELTA_MS:.0f} ms: {_verdict(point, vlow, vhigh)}"
            lines.append(
                f"  {direction:<3} {title:<10}: {d['pooled_p50']:+5.1f} [{low:+5.1f},{high:+5.1f}] | "
                f"{d['median_of_round_deltas']:+5.1f} | {d['median_of_paired_deltas']:+5.1f} "
                f"[{plow:+5.1f},{phigh:+5.1f}]  {verdict}")
    counts = through.get("B", {})
    lines.append("")
    lines.append(f"mxgate (B) accepted /send requests: outbound {counts.get('outbound', 0):.0f}, "
                 f"inbound {counts.get('inbound', 0):.0f}")
    lines.append(f"runtime: {runtime:.0f} s (mxgate binary: {mxgate_binary()})")
    return "\n".join(lines)


def _verdict(delta: float, low: float, high: float) -> str:
    """MET / NOT MET when the whole interval is on one side of the target, else say so."""
    if high <= TARGET_P50_DELTA_MS:
        return "MET"
    if low > TARGET_P50_DELTA_MS:
        return "NOT MET"
    side = "met" if delta <= TARGET_P50_DELTA_MS else "not met"
    return f"not resolved (point estimate {side}, interval spans the target)"


def _bootstrap_ci(a: list[float], b: list[float], draws: int = 2000) -> tuple[float, float]:
    """95 % bootstrap interval of p50(b) - p50(a), resampling messages (fixed seed).

    With ``a = [0.0]`` it is the interval of the median of ``b`` (e.g. paired differences).
    """
    rng = random.Random(7)
    deltas = sorted(
        _nearest_rank(rng.choices(b, k=len(b)), 50) - _nearest_rank(rng.choices(a, k=len(a)), 50)
        for _ in range(draws))
    return deltas[int(0.025 * draws)], deltas[int(0.975 * draws) - 1]


def _pairs(a: list[Sample], b: list[Sample]) -> list[tuple[Sample, Sample]]:
    by_key = {(s.round, s.index): s for s in b}
    return [(s, by_key[(s.round, s.index)]) for s in a if (s.round, s.index) in by_key]


def _nearest_rank(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def _progress(name: str, direction: str, round_no: int, samples: list[Sample]) -> None:
    e2e = _nearest_rank([s.end_to_end_ms for s in samples], 50)
    fedp = _nearest_rank([s.federation_ms for s in samples], 50)
    print(f"[fedlat] round {round_no} {name} {direction}: p50 end-to-end {e2e:.1f} ms, "
          f"after PUT {fedp:.1f} ms", file=sys.stderr, flush=True)


def _write_json(path: Path, results, summary, args, runtime, through) -> None:
    raw = {f"{name}/{direction}": [vars(s) for s in samples] for (name, direction), samples in results.items()}
    doc = {"args": vars(args), "runtime_s": runtime, "summary": summary, "samples": raw,
           "mxgate_send_counts": through}
    path.write_text(json.dumps(doc, indent=1))


# -- plumbing ----------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=50, help="measured messages per run (default 50)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per setup (default 3)")
    p.add_argument("--warmup", type=int, default=2, help="uncounted messages before each run (default 2)")
    p.add_argument("--directions", default="out,in", help="comma list of out (hs1->hs2), in (hs2->hs1)")
    p.add_argument("--interleave", choices=("round", "message"), default="round",
                   help="alternate A and B per round (default) or message by message")
    p.add_argument("--max-seconds", type=float, default=1200, help="abort the run after this long")
    p.add_argument("--json", help="also write raw samples and the summary to this file")
    args = p.parse_args(argv)
    args.directions = [d for d in args.directions.split(",") if d]
    if not args.directions or any(d not in DIRECTIONS for d in args.directions):
        p.error("--directions: a comma list of 'out' and 'in'")
    if args.messages < 1 or args.rounds < 1 or args.warmup < 0:
        p.error("--messages and --rounds must be >= 1, --warmup >= 0")
    return args


def _missing_tools() -> str | None:
    reason = mxgate_serve_missing()
    if reason:
        return f"{reason} (build with `cargo build --release -p mxgate` or set MXGATE_BIN)"
    if _nginx_binary() is None:
        return "nginx not found (setup A uses it as the TLS terminator): apt-get install nginx"
    return None


def _nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def _port_open(port: int) -> bool:
    with socket.create_connection((LOOPBACK, port), timeout=2):
        return True


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())

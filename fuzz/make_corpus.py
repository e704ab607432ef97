#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/.

Seeds are hand-made or taken from the cross-check fixtures in
crates/mxgate-core/tests/fixtures. Run from anywhere: `python3 fuzz/make_corpus.py`.
Only seed files written by this script are replaced; crash inputs kept in a
corpus folder (named `crash-*`) are left alone.
"""

import json
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
FIXTURES = FUZZ.parent / "crates" / "mxgate-core" / "tests" / "fixtures"
EXAMPLE_CONFIG = FUZZ.parent / "examples" / "mxgate.toml"

# Public halves of the fuzz targets' fixed keys (seeds [7; 32] and [9; 32]).
FUZZ_KEY = "6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw"
NOTARY_KEY = "/RckOFqgx1tk+3jNYC+h2ZH96/drE8WO1wLqyDXp9hg"
NOW_MS = 1_790_000_000_000
SIG = "A" * 86


def main():
    seeds = {
        "xmatrix": xmatrix_seeds(),
        "strict_json": strict_json_seeds(),
        "txn": txn_seeds(),
        "key_response": key_response_seeds(),
        "invite_event": invite_event_seeds(),
        "config": config_seeds(),
        "endpoints": endpoint_seeds(),
        "ids": id_seeds(),
    }
    for target, files in seeds.items():
        folder = FUZZ / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*"):
            old.unlink()
        for name, content in files.items():
            data = content if isinstance(content, bytes) else content.encode()
            (folder / f"seed-{name}").write_bytes(data)
        print(f"{target}: {len(files)} seeds")


def fixture(name):
    return json.loads((FIXTURES / name).read_text())["cases"]


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def xmatrix_seeds():
    seeds = {}
    for case in fixture("requests.json")[:12]:
        seeds[f"fixture-{case['name']}"] = case["authorization"]
    hand = {
        "lowercase-scheme": f'x-matrix origin="a.example",key="ed25519:k",sig="{SIG}"',
        "unquoted": f"X-Matrix origin=a.example:8448,key=ed25519:k,sig={SIG}",
        "spaces": f'X-Matrix  origin = "a.example" ,\tkey="ed25519:k" , sig="{SIG}" ',
        "escapes": f'X-Matrix origin="a\\.example",key="ed25519:\\k",sig="{SIG}"',
        "destination": f'X-Matrix origin="a.example",destination="[::1]:8448",key="ed25519:k",sig="{SIG}"',
        "unknown-param": f'X-Matrix origin="a.example",foo="bar",key="ed25519:k",sig="{SIG}"',
        "duplicate": f'X-Matrix origin="a.example",ORIGIN="b.example",key="ed25519:k",sig="{SIG}"',
        "empty-elements": f'X-Matrix ,origin="a.example",,key="ed25519:k",sig="{SIG}",',
        "padded-urlsafe-sig": f'X-Matrix origin="1.2.3.4",key="ed25519:k",sig="{"_" * 86}=="',
        "missing-sig": 'X-Matrix origin="a.example",key="ed25519:k"',
        "two-headers": f'X-Matrix origin="a.example",key="ed25519:k",sig="{SIG}"\nX-Matrix origin="b.example",key="ed25519:k",sig="{SIG}"',
        "bearer": "Bearer abc",
    }
    seeds.update(hand)
    return seeds


def strict_json_seeds():
    seeds = {f"fixture-{c['name']}": c["input"] for c in fixture("canonical.json")}
    hand = {
        "duplicate": '{"a":1,"a":2}',
        "duplicate-escaped": '{"a":1,"\\u0061":2}',
        "surrogate-pair": '"\\ud83d\\ude00"',
        "lone-surrogate": '["\\ud800"]',
        "max-int": "[9007199254740991,-9007199254740991]",
        "big-int": "9007199254740992",
        "u64": "18446744073709551615",
        "float": '{"f":1.5,"e":1e3}',
        "minus-zero": "-0",
        "depth-128": "[" * 128 + "]" * 128,
        "depth-129": "[" * 129 + "]" * 129,
        "trailing": "{} x",
        "bom": b"\xef\xbb\xbf{}",
        "bad-utf8": b'{"a":"\xff"}',
        "controls": '"\\u0000\\u001f\\n\\t"',
    }
    seeds.update(hand)
    return seeds


def txn_seeds():
    seeds = {}
    for case in fixture("requests.json"):
        body = case["body"]
        if case["method"] == "PUT" and "/send/" in case["uri"] and body:
            seeds.setdefault(f"fixture-{case['name']}", body)
    pdu = {"type": "m.room.message", "sender": "@a:remote.example", "content": {}}
    base = {"origin": "remote.example", "origin_server_ts": NOW_MS, "pdus": [pdu]}
    variants = {
        "minimal": base,
        "no-edus": {**base, "edus": []},
        "edus": {**base, "edus": [{"edu_type": "m.typing", "content": {}}]},
        "50-pdus": {**base, "pdus": [pdu] * 50},
        "51-pdus": {**base, "pdus": [pdu] * 51},
        "101-edus": {**base, "edus": [{}] * 101},
        "origin-mismatch": {**base, "origin": "evil.example"},
        "negative-ts": {**base, "origin_server_ts": -1},
        "no-pdus": {k: v for k, v in base.items() if k != "pdus"},
        "pdu-not-object": {**base, "pdus": [1]},
    }
    seeds.update({k: compact(v) for k, v in variants.items()})
    return seeds


def key_response_seeds():
    seeds = {f"fixture-{c['name']}": c["body"] for c in fixture("key_responses.json")}
    doc = {
        "server_name": "keys.example",
        "valid_until_ts": NOW_MS + 86_400_000,
        "verify_keys": {"ed25519:fuzz": {"key": FUZZ_KEY}},
        "old_verify_keys": {},
    }
    variants = {
        "resign-fresh": doc,
        "resign-long-validity": {**doc, "valid_until_ts": NOW_MS + 30 * 86_400_000},
        "resign-expired": {**doc, "valid_until_ts": NOW_MS - 1},
        "resign-old-keys": {
            **doc,
            "old_verify_keys": {"ed25519:0ld": {"key": NOTARY_KEY, "expired_ts": NOW_MS - 5}},
        },
        "resign-other-algorithm": {
            **doc,
            "verify_keys": {**doc["verify_keys"], "curve25519:x": {"key": "AAAA"}},
        },
        "resign-two-keys": {
            **doc,
            "verify_keys": {**doc["verify_keys"], "ed25519:n": {"key": NOTARY_KEY}},
        },
        "notary-wrapper": {"server_keys": [doc]},
    }
    seeds.update({k: compact(v) for k, v in variants.items()})
    return seeds


def invite_event_seeds():
    seeds = {}
    cases = fixture("events.json")
    kinds = ("_message", "_member_join", "_content_changed", "_signature_removed")
    for case in [c for c in cases if c["name"].endswith(kinds)]:
        wrapper = {"event": case["event"], "room_version": case["room_version"], "invite_room_state": []}
        seeds[f"fixture-{case['name']}"] = compact(wrapper)
    for case in cases[:3]:
        seeds[f"bare-{case['name']}"] = compact(case["event"])
    invite = {
        "type": "m.room.member",
        "state_key": "@bob:home.example",
        "sender": "@alice:remote.example",
        "room_id": "!r:remote.example",
        "content": {"membership": "invite", "join_authorised_via_users_server": "@c:third.example"},
        "origin_server_ts": NOW_MS,
    }
    seeds["hand-invite-v11"] = compact({"event": invite, "room_version": "11"})
    seeds["hand-invite-unknown-version"] = compact({"event": invite, "room_version": "org.example.x"})
    return seeds


def config_seeds():
    seeds = {"example": EXAMPLE_CONFIG.read_text()}
    minimal = (
        '[gateway]\nstate_dir = "state"\n\n[inbound]\nlisten = "127.0.0.1:8448"\n\n'
        '[[homeserver]]\nserver_name = "hs.example"\nupstream = "http://127.0.0.1:8008"\n'
    )
    seeds["minimal"] = minimal
    seeds["remote-custom-tier"] = minimal + (
        '\n[[remote]]\nserver_name = "r.example"\ntier = "partner"\naddress = "r.example:8448"\n'
        f'keys = {{ "ed25519:a" = "{FUZZ_KEY}" }}\n'
        "\n[tiers.partner]\nmay_moderate = true\n"
    )
    seeds["unknown-tier"] = minimal + '\n[[remote]]\nserver_name = "r.example"\ntier = "nope"\n'
    seeds["outbound"] = minimal + '\n[outbound]\nlisten = "unix:/run/mxgate/out.sock"\nsecret_file = "secret"\n'
    seeds["tls"] = minimal.replace(
        "[[homeserver]]", '[[inbound.tls]]\ncert = "a.crt"\nkey = "/abs/a.key"\n\n[[homeserver]]'
    )
    seeds["bad-syntax"] = "[gateway\nmode = "
    return seeds


def endpoint_seeds():
    seeds = {}
    for i, case in enumerate(fixture("requests.json")[:10]):
        seeds[f"fixture-{i:02}-{case['name']}"] = f"{case['method']} {case['uri']}"
    hand = [
        "PUT /_matrix/federation/v1/send/txn1",
        "PUT /_matrix/federation/v2/invite/%21r%3Ahs.example/%24e",
        "GET /_matrix/key/v2/server",
        "POST /_matrix/key/v2/query",
        "GET /_matrix/federation/v1/query/directory?room_alias=%23a%3Ab",
        "GET /_matrix/federation/v1/../v1/version",
        "GET /_matrix/federation/v1/%2e%2e/version",
        "GET /_matrix//federation/v1/version",
        "GET /_matrix%2Ffederation/v1/version",
        "GET /_synapse/admin/v1/users",
        "GET http://evil.example/_matrix/federation/v1/version",
        "DELETE /_matrix/federation/v1/send/txn1",
    ]
    seeds.update({f"hand-{i:02}": line for i, line in enumerate(hand)})
    return seeds


def id_seeds():
    ids = [
        "example.org", "example.org:8448", "1.2.3.4", "1.2.3.999", "[::1]", "[::1]:8448",
        "[1234:5678::abcd]", "EXAMPLE.org", "ex_ample.org:0", "a.example:65536",
        "ed25519:a_1", "ed25519:", "curve25519:abc", "ed25519:ABC-1",
        "@alice:example.org", "@:example.org", "@alice:[::1]:8448",
        "!room:example.org", "!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$ev:example.org", "$" + "B" * 43, "$ab+/cd", "",
    ]
    return {f"{i:02}": text for i, text in enumerate(ids)}


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate cross-check fixtures for mxgate-core with the libraries Synapse uses.

The fixtures are produced by PyPI's `signedjson` and `canonicaljson` (and, for
events, by Synapse's own event signing and Rust redaction when `matrix-synapse`
is installed) so that `crates/mxgate-core/tests/crosscheck.rs` can check our
Rust implementation against the real one. Every key comes from a fixed seed and
ed25519 signatures are deterministic: running the script twice gives identical
files.

Usage:
    python3 -m venv target/py
    target/py/bin/pip install signedjson canonicaljson   # + matrix-synapse for events
    target/py/bin/python scripts/gen-fixtures.py [OUT_DIR]

Writes canonical.json, signed_json.json, requests.json, key_responses.json and
events.json into OUT_DIR (default crates/mxgate-core/tests/fixtures). Cases with
`"valid": false` are tampered variants that a verifier must reject; `tamper`
names what was changed and `expect` the rejection.
"""

import copy
import hashlib
import json
import pathlib
import sys

import canonicaljson
import signedjson.key
import signedjson.sign
from unpaddedbase64 import decode_base64, encode_base64

# Spec appendix "Signing JSON" test key.
SPEC_SEED = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
ROOM_VERSIONS = ["1", "3", "4", "6", "10", "11", "12"]
TS = 1_790_000_000_000


def main() -> None:
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else default_out_dir())
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "canonical.json": canonical_cases(),
        "signed_json.json": signed_json_cases(),
        "requests.json": request_cases(),
        "key_responses.json": key_response_cases(),
        "events.json": event_cases(),
    }
    for name, cases in files.items():
        document = {
            "generator": generator_info(),
            "cases": cases,
        }
        text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False)
        (out / name).write_text(text + "\n", encoding="utf-8")
        print(f"{out / name}: {len(cases)} cases")


def default_out_dir() -> pathlib.Path:
    root = pathlib.Path(__file__).resolve().parent.parent
    return root / "crates" / "mxgate-core" / "tests" / "fixtures"


def generator_info() -> dict:
    from importlib.metadata import version

    info = {
        "script": "scripts/gen-fixtures.py",
        "canonicaljson": version("canonicaljson"),
        "signedjson": version("signedjson"),
    }
    if synapse_available():
        info["matrix-synapse"] = version("matrix-synapse")
    return info


# ---------------------------------------------------------------- keys


def key_from_seed(seed_b64: str, version: str):
    """A signedjson signing key from a base64 seed."""
    return signedjson.key.decode_signing_key_base64("ed25519", version, seed_b64)


def key_for(name: str, version: str):
    """A deterministic signing key derived from `name`."""
    seed = hashlib.sha256(b"mxgate-fixture:" + name.encode()).digest()
    return key_from_seed(encode_base64(seed), version)


def key_id(key) -> str:
    return f"{key.alg}:{key.version}"


def verify_key_b64(key) -> str:
    return signedjson.key.encode_verify_key_base64(key.verify_key)


def canonical(value) -> str:
    return canonicaljson.encode_canonical_json(value).decode("utf-8")


# ---------------------------------------------------------------- canonical JSON


def canonical_cases() -> list:
    """Raw JSON texts and their canonical encoding by `canonicaljson`."""
    inputs = {
        "empty": "{}",
        "spec_one_two": '{\n  "one": 1,\n  "two": "Two"\n}',
        "spec_key_order": '{"b": "2", "a": "1"}',
        "spec_nested": (
            '{"auth": {"success": true, "mxid": "@john.doe:example.com",'
            ' "profile": {"display_name": "John Doe", "three_pids": ['
            '{"medium": "email", "address": "john.doe@example.org"},'
            '{"medium": "msisdn", "address": "123456789"}]}}}'
        ),
        "spec_unicode": '{"a": "日本語"}',
        "spec_unicode_keys": '{"本": 2, "日": 1}',
        "spec_escaped_unicode": '{"a": "\\u65E5"}',
        "spec_null": '{"a": null}',
        "control_characters": '{"c": "\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\\u007f"}',
        "quotes_slashes": '{"q": "\\" \\\\ \\/ /"}',
        "line_separators": '{"ls": "\\u2028\\u2029"}',
        "astral": '{"e": "\\ud83d\\ude00 😀"}',
        "key_order_code_points": '{"\\ud83d\\ude00": 1, "\\ufb01": 2, "Z": 3, "a": 4, "": 5}',
        "integer_limits": '{"max": 9007199254740991, "min": -9007199254740991, "zero": 0}',
        "arrays": '[1, [2, [3, {"b": [], "a": {}}]], true, false, null, "s"]',
        "deep_whitespace": ' {\t"x" :\r\n [ 1 , 2 ] } ',
        "top_level_string": '"top"',
        "top_level_integer": "-42",
    }
    return [
        {"name": name, "input": text, "canonical": canonical(json.loads(text))}
        for name, text in inputs.items()
    ]


# ---------------------------------------------------------------- signed JSON


def signed_json_cases() -> list:
    spec_key = key_from_seed(SPEC_SEED, "1")
    alice = key_for("alice", "a_1")
    mallory = key_for("mallory", "a_1")
    objects = {
        "spec_empty": {},
        "spec_one_two": {"one": 1, "two": "Two"},
        "unicode_and_escapes": {
            "a": "日本語",
            "ctl": "\u0001\n\u001f",
            "emoji": "😀",
            "keys": {"\ufb01": 1, "😀": 2, "Z": 3},
        },
        "integer_limits": {"max": 2**53 - 1, "min": -(2**53 - 1)},
        "nested_signatures_key": {"inner": {"signatures": {"x": 1}}, "n": [1, {"unsigned": 2}]},
    }
    cases = []
    for name, obj in objects.items():
        key = spec_key if name.startswith("spec_") else alice
        server = "domain" if name.startswith("spec_") else "alice.example:8448"
        signed = signedjson.sign.sign_json(copy.deepcopy(obj), server, key)
        cases.append(signed_case(name, server, key, signed, True))
    cases += signed_json_variants(alice, mallory)
    return cases


def signed_json_variants(alice, mallory) -> list:
    server = "alice.example:8448"
    base = signedjson.sign.sign_json({"msg": "hello", "n": 1}, server, alice)
    cases = []

    with_unsigned = copy.deepcopy(base)
    with_unsigned["unsigned"] = {"age": 100}
    cases.append(signed_case("unsigned_added_after_signing", server, alice, with_unsigned, True))

    two = signedjson.sign.sign_json(copy.deepcopy(base), "bob.example", key_for("bob", "b"))
    cases.append(signed_case("second_signer_first", server, alice, two, True))
    cases.append(signed_case("second_signer_second", "bob.example", key_for("bob", "b"), two, True))

    def tampered(name, mutate, signer=alice, as_server=server, expect="bad_signature"):
        obj = copy.deepcopy(base)
        mutate(obj)
        case = signed_case(name, as_server, signer, obj, False)
        case["tamper"] = name
        case["expect"] = expect
        return case

    cases.append(tampered("value_changed", lambda o: o.update(n=2)))
    cases.append(tampered("key_added", lambda o: o.update(extra=True)))
    cases.append(tampered("key_removed", lambda o: o.pop("n")))
    cases.append(tampered("signature_bit_flipped", lambda o: flip_signature(o, server, "ed25519:a_1")))
    cases.append(tampered("verified_with_other_key", lambda o: None, signer=mallory))
    cases.append(tampered("other_server_name", lambda o: None, as_server="evil.example",
                          expect="missing_signature"))
    return cases


def signed_case(name, server, key, obj, valid) -> dict:
    return {
        "name": name,
        "server": server,
        "key_id": key_id(key),
        "verify_key": verify_key_b64(key),
        "object": obj,
        "signed_bytes": canonical({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}),
        "valid": valid,
    }


def flip_signature(obj, server, kid) -> None:
    raw = bytearray(decode_base64(obj["signatures"][server][kid]))
    raw[10] ^= 0x01
    obj["signatures"][server][kid] = encode_base64(bytes(raw))


# ---------------------------------------------------------------- requests


def x_matrix_header(origin, destination, kid, sig) -> str:
    """The Authorization value exactly as Synapse formats it
    (synapse/http/matrixfederationclient.py, build_auth_headers)."""
    return f'X-Matrix origin="{origin}",key="{kid}",sig="{sig}",destination="{destination}"'


def signed_request(method, uri, origin, destination, key, content=None) -> dict:
    request = {"method": method, "uri": uri, "origin": origin, "destination": destination}
    if content is not None:
        request["content"] = content
    signed = signedjson.sign.sign_json(copy.deepcopy(request), origin, key)
    sig = signed["signatures"][origin][key_id(key)]
    return {
        "method": method,
        "uri": uri,
        "origin": origin,
        "destination": destination,
        # Synapse sends the body as canonical JSON.
        "body": None if content is None else canonical(content),
        "authorization": x_matrix_header(origin, destination, key_id(key), sig),
        "key_id": key_id(key),
        "verify_key": verify_key_b64(key),
        "signing_bytes": canonical(request),
        "valid": True,
    }


def request_cases() -> list:
    remote = key_for("remote", "a_1")
    loop = key_for("loopback", "k")
    txn = {
        "origin": "remote.example",
        "origin_server_ts": TS,
        "pdus": [{"type": "m.room.message", "content": {"body": "hi"}, "sender": "@a:remote.example"}],
        "edus": [{"edu_type": "m.typing", "content": {"typing": True}}],
    }
    specs = [
        ("send_txn", "PUT", "/_matrix/federation/v1/send/1795738465985", txn),
        ("profile_query_percent_encoded", "GET",
         "/_matrix/federation/v1/query/profile?user_id=%40alice%3Aremote.example&field=displayname", None),
        ("state_ids_room_id", "GET",
         "/_matrix/federation/v1/state_ids/%21room%3Ahome.example?event_id=%24abc%2Bdef", None),
        ("event_with_slash", "GET", "/_matrix/federation/v1/event/%24ab%2Fcd", None),
        ("invite_v2", "PUT", "/_matrix/federation/v2/invite/%21r%3Ahome.example/%24e",
         {"room_version": "10", "event": {"type": "m.room.member"}, "invite_room_state": []}),
        ("make_join_query", "GET",
         "/_matrix/federation/v1/make_join/%21r%3Ahome.example/%40u%3Aremote.example?ver=10&ver=11", None),
        ("media_download", "GET", "/_matrix/federation/v1/media/download/abcDEF123", None),
        ("empty_object_body", "POST", "/_matrix/federation/v1/user/keys/query", {}),
        ("unicode_body", "PUT", "/_matrix/federation/v1/send/u1",
         {"origin": "remote.example", "origin_server_ts": TS, "pdus": [],
          "edus": [{"edu_type": "x", "content": {"t": "日本語 😀 \u2028"}}]}),
    ]
    cases = []
    for name, method, uri, content in specs:
        case = signed_request(method, uri, "remote.example", "home.example", remote, content)
        cases.append({"name": name, **case})
    ip = signed_request("GET", "/_matrix/federation/v1/version", "127.0.0.1:8481", "[::1]:8448", loop)
    cases.append({"name": "ip_literal_names", **ip})
    pretty = dict(cases[0], name="send_txn_pretty_body")
    pretty["body"] = json.dumps(txn, indent=2, ensure_ascii=True)
    cases.append(pretty)
    cases += request_tampers(cases[0], cases[1], remote)
    return cases


def request_tampers(send, query, remote) -> list:
    other = key_for("other", "a_1")

    def tampered(name, base, expect="bad_signature", **changes):
        case = dict(base, name=name, valid=False, tamper=name, expect=expect, **changes)
        case.pop("signing_bytes", None)
        return case

    forged = signed_request(send["method"], send["uri"], send["origin"], send["destination"], other,
                            json.loads(send["body"]))
    return [
        tampered("uri_percent_decoded", query,
                 uri="/_matrix/federation/v1/query/profile?user_id=@alice:remote.example&field=displayname"),
        tampered("query_reordered", query,
                 uri="/_matrix/federation/v1/query/profile?field=displayname&user_id=%40alice%3Aremote.example"),
        tampered("uri_lowercased_escape", query,
                 uri="/_matrix/federation/v1/query/profile?user_id=%40alice%3aremote.example&field=displayname"),
        tampered("method_changed", query, method="POST"),
        tampered("destination_changed", send, destination="other.example",
                 authorization=send["authorization"].replace('"home.example"', '"other.example"')),
        tampered("body_changed", send, body=send["body"].replace('"hi"', '"ho"')),
        tampered("body_dropped", send, body=None),
        tampered("body_added", query, body="{}"),
        tampered("signed_by_other_key", send, authorization=forged["authorization"]),
        tampered("origin_changed", send, origin="evil.example",
                 authorization=send["authorization"].replace('"remote.example"', '"evil.example"')),
    ]


# ---------------------------------------------------------------- key responses


def key_response(server, signing_keys, valid_until_ts, old=None, extra_signers=()) -> dict:
    """A /_matrix/key/v2/server response as Synapse builds it: every current key signs."""
    body = {
        "server_name": server,
        "valid_until_ts": valid_until_ts,
        "verify_keys": {key_id(k): {"key": verify_key_b64(k)} for k in signing_keys},
        "old_verify_keys": {
            key_id(k): {"key": verify_key_b64(k), "expired_ts": ts} for k, ts in (old or [])
        },
    }
    for key in list(signing_keys) + list(extra_signers):
        body = signedjson.sign.sign_json(body, server, key)
    return body


def key_response_cases() -> list:
    a1 = key_for("keys-a", "a_1")
    a2 = key_for("keys-a", "a_2")
    old = key_for("keys-a-old", "a_0")
    stranger = key_for("stranger", "a_1")
    until = TS + 7 * 24 * 3600 * 1000
    now = TS

    def case(name, expected, body, valid=True, tamper=None, expect=None):
        out = {"name": name, "expected_server": expected, "now_ms": now,
               "body": canonical(body), "valid": valid}
        if body.get("server_name") == expected and "verify_keys" in body:
            out["verify_keys"] = {k: v["key"] for k, v in body["verify_keys"].items()}
        if not valid:
            out["tamper"] = tamper
            out["expect"] = expect
        return out

    single = key_response("keys.example", [a1], until)
    cases = [
        case("single_key", "keys.example", single),
        case("with_old_verify_keys", "keys.example", key_response("keys.example", [a1], until, [(old, TS - 1000)])),
        case("two_keys_both_sign", "keys.example", key_response("keys.example", [a1, a2], until)),
        case("ip_literal_with_port", "127.0.0.1:8481", key_response("127.0.0.1:8481", [a1], until)),
        case("ipv6_literal", "[::1]:8448", key_response("[::1]:8448", [a2], until)),
    ]
    altered_key = copy.deepcopy(single)
    altered_key["verify_keys"]["ed25519:a_1"]["key"] = verify_key_b64(stranger)
    altered_until = copy.deepcopy(single)
    altered_until["valid_until_ts"] = until + 1
    only_old_signs = key_response("keys.example", [], until, [(old, TS - 1000)], extra_signers=[old])
    only_old_signs["verify_keys"] = {key_id(a1): {"key": verify_key_b64(a1)}}
    stranger_signs = key_response("keys.example", [], until, extra_signers=[stranger])
    stranger_signs["verify_keys"] = {key_id(a2): {"key": verify_key_b64(a2)}}
    unsigned = copy.deepcopy(single)
    unsigned.pop("signatures")
    cases += [
        case("server_name_mismatch", "other.example", single, False, "server_name_mismatch", "server_name_mismatch"),
        case("verify_key_replaced", "keys.example", altered_key, False, "verify_key_replaced", "bad_signature"),
        case("valid_until_ts_raised", "keys.example", altered_until, False, "valid_until_ts_raised", "bad_signature"),
        case("signed_only_by_old_key", "keys.example", only_old_signs, False, "signed_only_by_old_key", "no_self_signature"),
        case("signed_by_unlisted_key", "keys.example", stranger_signs, False, "signed_by_unlisted_key", "no_self_signature"),
        case("no_signatures", "keys.example", unsigned, False, "no_signatures", "no_self_signature"),
    ]
    return cases


# ---------------------------------------------------------------- events


def synapse_available() -> bool:
    try:
        import synapse.crypto.event_signing  # noqa: F401
    except ImportError:
        return False
    return True


def event_cases() -> list:
    if not synapse_available():
        sys.exit("events need matrix-synapse: target/py/bin/pip install matrix-synapse")
    cases = []
    for rv in ROOM_VERSIONS:
        cases += events_for_version(rv)
    return cases


class EventFactory:
    """Signs events with Synapse's own code for one room version."""

    def __init__(self, rv: str):
        from synapse.api.room_versions import KNOWN_ROOM_VERSIONS

        self.rv_id = rv
        self.rv = KNOWN_ROOM_VERSIONS[rv]
        self.servers = {
            "hs1.example": key_for("event-hs1", "a_1"),
            "127.0.0.1:8482": key_for("event-hs2", "b_1"),
        }
        self.explicit_ids = rv in ("1", "2")

    def sign(self, event: dict, *servers: str) -> dict:
        from synapse.crypto.event_signing import add_hashes_and_signatures

        event = copy.deepcopy(event)
        for server in servers:
            add_hashes_and_signatures(self.rv, event, server, self.servers[server])
        return event

    def event_id(self, event: dict) -> str:
        from synapse.events import make_event_from_dict

        return make_event_from_dict(copy.deepcopy(event), self.rv).event_id

    def signed_bytes(self, event: dict) -> str:
        from synapse.synapse_rust.events import redact_event_dict

        redacted = redact_event_dict(self.rv, event)
        for field in ("signatures", "unsigned", "age_ts"):
            redacted.pop(field, None)
        return canonical(redacted)

    def case(self, name, event, valid=True, tamper=None, expect=None, event_id=None) -> dict:
        out = {
            "name": f"v{self.rv_id}_{name}",
            "room_version": self.rv_id,
            "event": event,
            "event_id": event_id or self.event_id(event),
            "keys": {s: {key_id(k): verify_key_b64(k)} for s, k in self.servers.items()},
            "redacted_signed_bytes": self.signed_bytes(event),
            "valid": valid,
        }
        if not valid:
            out["tamper"] = tamper
            out["expect"] = expect
        return out


def base_event(f: EventFactory, kind: str, sender: str, content: dict, state_key=None, n=1) -> dict:
    event = {
        "type": kind,
        "room_id": "!room:hs1.example" if f.rv_id != "12" else "!" + "A" * 43,
        "sender": sender,
        "content": content,
        "origin_server_ts": TS + n,
        "depth": 10 + n,
        "prev_events": [],
        "auth_events": [],
        "unsigned": {"age": 5},
    }
    if f.rv_id not in ("11", "12"):
        event["origin"] = sender.split(":", 1)[1]
    if state_key is not None:
        event["state_key"] = state_key
    if f.explicit_ids:
        event["event_id"] = f"$ev{n}:{sender.split(':', 1)[1]}"
        event["prev_events"] = [["$prev:hs1.example", {"sha256": "abc"}]]
    else:
        event["prev_events"] = ["$" + "B" * 43]
    return event


def events_for_version(rv: str) -> list:
    f = EventFactory(rv)
    hs1, hs2 = "@alice:hs1.example", "@bob:127.0.0.1:8482"
    message = f.sign(base_event(f, "m.room.message", hs1, {"msgtype": "m.text", "body": "hello 😀"}), "hs1.example")
    power = f.sign(base_event(f, "m.room.power_levels", hs1, {
        "users": {hs1: 100}, "ban": 50, "invite": 0, "notifications": {"room": 50}, "kick": 50,
    }, state_key="", n=2), "hs1.example")
    member = f.sign(base_event(f, "m.room.member", hs2, {"membership": "join", "displayname": "Bob"},
                               state_key=hs2, n=3), "127.0.0.1:8482")
    cases = [f.case("message", message), f.case("power_levels", power), f.case("member_join", member)]
    if rv == "12":
        create = base_event(f, "m.room.create", hs1, {"room_version": "12", "extra": 1}, state_key="", n=4)
        create.pop("room_id")
        create["prev_events"] = []
        cases.append(f.case("create_without_room_id", f.sign(create, "hs1.example")))
    cases += redaction_probes(f)
    cases += event_tampers(f, message, member)
    if f.explicit_ids:
        cases += explicit_id_cases(f)
    if int(rv) >= 8:
        cases += restricted_join_cases(f)
    return cases


def redaction_probes(f: EventFactory) -> list:
    """State events whose redaction differs between room versions: their signed bytes pin our
    redaction to Synapse's for every rule change (aliases, join_rules allow, member
    join_authorised_via_users_server and third_party_invite.signed, create content,
    power_levels invite, redaction redacts)."""
    hs1 = "@alice:hs1.example"
    probes = [
        ("m.room.aliases", {"aliases": ["#a:hs1.example"], "x": 1}, "hs1.example"),
        ("m.room.join_rules", {"join_rule": "restricted", "allow": [{"type": "m.room_membership",
                                                                     "room_id": "!o:hs1.example"}], "x": 1}, ""),
        ("m.room.member", {"membership": "invite", "join_authorised_via_users_server": hs1,
                           "third_party_invite": {"display_name": "d", "signed": {"token": "t"}},
                           "displayname": "Eve"}, "@eve:hs1.example"),
        ("m.room.history_visibility", {"history_visibility": "shared", "x": 1}, ""),
        ("m.room.server_acl", {"allow": ["*"], "deny": [], "allow_ip_literals": False}, ""),
    ]
    cases = []
    for i, (kind, content, state_key) in enumerate(probes):
        event = base_event(f, kind, hs1, content, state_key=state_key, n=20 + i)
        cases.append(f.case(f"redaction_probe_{kind}", f.sign(event, "hs1.example")))
    redaction = base_event(f, "m.room.redaction", hs1, {"redacts": "$target:hs1.example", "reason": "r"}, n=30)
    redaction["redacts"] = "$target:hs1.example"
    cases.append(f.case("redaction_probe_m.room.redaction", f.sign(redaction, "hs1.example")))
    if f.rv_id != "12":
        create = base_event(f, "m.room.create", hs1, {"creator": hs1, "room_version": f.rv_id, "m.federate": True},
                            state_key="", n=31)
        cases.append(f.case("redaction_probe_m.room.create", f.sign(create, "hs1.example")))
    return cases


def event_tampers(f: EventFactory, message: dict, member: dict) -> list:
    from synapse.crypto.event_signing import compute_content_hash

    attacker = key_for("event-attacker", "a_1")
    cases = []

    body_changed = copy.deepcopy(message)
    body_changed["content"]["body"] = "goodbye"
    cases.append(f.case("content_changed", body_changed, False, "content_changed", "content_hash_mismatch",
                        event_id=f.event_id(message)))

    ts_changed = copy.deepcopy(message)
    ts_changed["origin_server_ts"] += 1
    _, digest = compute_content_hash(ts_changed, hashlib.sha256)
    ts_changed["hashes"]["sha256"] = encode_base64(digest)
    cases.append(f.case("ts_changed_hash_recomputed", ts_changed, False, "ts_changed_hash_recomputed",
                        "bad_signature"))

    forged = copy.deepcopy(message)
    from synapse.crypto.event_signing import add_hashes_and_signatures

    forged.pop("signatures")
    add_hashes_and_signatures(f.rv, forged, "hs1.example", attacker)
    cases.append(f.case("signed_by_attacker_key", forged, False, "signed_by_attacker_key", "bad_signature"))

    stripped = copy.deepcopy(member)
    stripped["signatures"] = {}
    cases.append(f.case("signature_removed", stripped, False, "signature_removed", "missing_signature"))

    if not f.explicit_ids:
        cases.append(f.case("wrong_event_id", message, False, "wrong_event_id", "event_id_mismatch",
                            event_id=f.event_id(power_like(f, message))))
    return cases


def power_like(f: EventFactory, message: dict) -> dict:
    """Another event, whose id is not the id of `message`."""
    other = copy.deepcopy(message)
    other["depth"] += 100
    return other


def explicit_id_cases(f: EventFactory) -> list:
    """v1/v2: the server named in the event id must sign too."""
    event = base_event(f, "m.room.message", "@alice:hs1.example", {"body": "relayed"}, n=7)
    event["event_id"] = "$ev7:127.0.0.1:8482"
    only_sender = f.sign(event, "hs1.example")
    both = f.sign(event, "hs1.example", "127.0.0.1:8482")
    return [
        f.case("event_id_server_signed", both),
        f.case("event_id_server_missing", only_sender, False, "event_id_server_missing", "missing_signature"),
    ]


def restricted_join_cases(f: EventFactory) -> list:
    """v8+: a restricted join also needs the authorising server's signature."""
    joiner = "@bob:127.0.0.1:8482"
    event = base_event(f, "m.room.member", joiner, {
        "membership": "join", "join_authorised_via_users_server": "@alice:hs1.example",
    }, state_key=joiner, n=8)
    only_joiner = f.sign(event, "127.0.0.1:8482")
    both = f.sign(event, "127.0.0.1:8482", "hs1.example")
    return [
        f.case("restricted_join_both_signed", both),
        f.case("restricted_join_authoriser_missing", only_joiner, False,
               "restricted_join_authoriser_missing", "missing_signature"),
    ]


if __name__ == "__main__":
    main()

"""Config writers: homeserver.yaml (and its log config) and mxgate.toml."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from harness.procs import LOOPBACK, free_port

if TYPE_CHECKING:
    from harness.federation import Federation, Homeserver


@dataclass
class Remote:
    """A ``[[remote]]`` entry of a gateway: a trusted server and how it is pinned."""

    server: "Homeserver"
    tier: str = "external"
    pin_keys: bool = False
    pin_ca: bool = True


@dataclass
class Gateway:
    """One mxgate process fronting one homeserver."""

    dir: Path
    config_path: Path
    audit_log: Path
    admin_port: int
    outbound_port: int | None
    outbound_secret: str | None
    remotes: list[Remote] = field(default_factory=list)

    @property
    def admin_url(self) -> str:
        """Base URL of the admin listener (metrics, health)."""
        return f"http://{LOOPBACK}:{self.admin_port}"

    def audit_lines(self) -> list[dict[str, Any]]:
        """Every JSON line of the audit log written so far."""
        if not self.audit_log.exists():
            return []
        lines = []
        for raw in self.audit_log.read_text().splitlines():
            raw = raw.strip()
            if raw:
                try:
                    lines.append(json.loads(raw))
                except json.JSONDecodeError:
                    lines.append({"unparsed": raw})
        return lines

    def metrics(self) -> str:
        """The Prometheus text exposition of the admin listener."""
        return httpx.get(f"{self.admin_url}/metrics", timeout=5).text



_RATE_UNLIMITED = {"per_second": 10000, "burst_count": 10000}
_LOG_FORMAT = "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"


def write_synapse_config(fed: Federation, server: Homeserver) -> None:
    direct = server.role == "direct"
    fed_listener: dict[str, Any] = {
        "port": server.synapse_fed_port,
        "bind_addresses": [LOOPBACK],
        "type": "http",
        "tls": direct,
        "x_forwarded": not direct,
        "resources": [{"names": ["federation"], "compress": False}],
    }
    client_listener = {
        "port": server.client_port,
        "bind_addresses": [LOOPBACK],
        "type": "http",
        "tls": False,
        "x_forwarded": False,
        "resources": [{"names": ["client"], "compress": False}],
    }
    config: dict[str, Any] = {
        "server_name": server.server_name,
        "pid_file": str(server.dir / "homeserver.pid"),
        "listeners": [fed_listener, client_listener],
        "database": {"name": "sqlite3", "args": {"database": str(server.dir / "homeserver.db")}},
        "log_config": str(server.dir / "log.yaml"),
        "media_store_path": str(server.dir / "media"),
        "signing_key_path": str(server.signing_key_path),
        "report_stats": False,
        "registration_shared_secret": server.shared_secret,
        "macaroon_secret_key": secrets.token_hex(16),
        "form_secret": secrets.token_hex(16),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_ip_range_blacklist": [],
        "ip_range_blacklist": [],
        "federation_verify_certificates": True,
        "federation_custom_ca_list": [str(fed.ca.cert)],
        "presence": {"enabled": False},
        "enable_metrics": False,
        "url_preview_enabled": False,
        "bcrypt_rounds": 4,
        "federation": {"destination_min_retry_interval": "5s", "destination_max_retry_interval": "60s"},
        **_rate_limits(),
    }
    if direct:
        config["tls_certificate_path"] = str(server.cert)
        config["tls_private_key_path"] = str(server.key)
    if server.outbound:
        assert server.gateway is not None and server.gateway.outbound_port is not None
        proxy = {"host": LOOPBACK, "port": server.gateway.outbound_port, "tls": False}
        config["instance_map"] = {"fedgw": proxy}
        config["outbound_federation_restricted_to"] = ["fedgw"]
        config["worker_replication_secret"] = server.gateway.outbound_secret
    (server.dir / "homeserver.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (server.dir / "log.yaml").write_text(yaml.safe_dump(_log_config(server.log_path), sort_keys=False))


def _rate_limits() -> dict[str, Any]:
    limits: dict[str, Any] = {
        name: dict(_RATE_UNLIMITED)
        for name in ("rc_message", "rc_registration", "rc_admin_redaction", "rc_joins_per_room",
                     "rc_key_requests", "rc_3pid_validation", "rc_third_party_invite", "rc_room_creation",
                     "rc_delayed_event_mgmt", "rc_reports", "rc_user_directory", "rc_profile")
    }
    limits["rc_presence"] = {"per_user": dict(_RATE_UNLIMITED)}
    limits["rc_login"] = {k: dict(_RATE_UNLIMITED) for k in ("address", "account", "failed_attempts")}
    limits["rc_joins"] = {k: dict(_RATE_UNLIMITED) for k in ("local", "remote")}
    limits["rc_invites"] = {k: dict(_RATE_UNLIMITED) for k in ("per_room", "per_user", "per_issuer")}
    limits["rc_federation"] = {
        "window_size": 1000,
        "sleep_limit": 1000,
        "sleep_delay": 1,
        "reject_limit": 1000,
        "concurrent": 100,
    }
    return limits


def _log_config(path: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "formatters": {"precise": {"format": _LOG_FORMAT}},
        "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter", "request": ""}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(path),
                "filters": ["context"],
            }
        },
        "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def write_gateway_config(fed: Federation, server: Homeserver) -> Gateway:
    gw_dir = server.dir / "mxgate"
    gw_dir.mkdir()
    (gw_dir / "state").mkdir()
    outbound_port = free_port() if server.outbound else None
    secret = secrets.token_hex(16) if server.outbound else None
    gateway = Gateway(
        dir=gw_dir,
        config_path=gw_dir / "mxgate.toml",
        audit_log=gw_dir / "audit.jsonl",
        admin_port=free_port(),
        outbound_port=outbound_port,
        outbound_secret=secret,
        remotes=list(server.remotes),
    )
    lines = [
        "# Written by the e2e harness (e2e/harness/configs.py) for one test run.",
        "[gateway]",
        'mode = "enforce"',
        f"state_dir = {_toml_str(gw_dir / 'state')}",
        f"audit_log = {_toml_str(gateway.audit_log)}",
        "",
        "[inbound]",
        f'listen = "{server.server_name}"',
        "[[inbound.tls]]",
        f"cert = {_toml_str(server.cert)}",
        f"key = {_toml_str(server.key)}",
        "",
        "[admin]",
        f'listen = "{LOOPBACK}:{gateway.admin_port}"',
        "",
    ]
    if outbound_port is not None:
        (gw_dir / "outbound.secret").write_text(f"{secret}\n")
        lines += [
            "[outbound]",
            f'listen = "{LOOPBACK}:{outbound_port}"',
            'secret_file = "outbound.secret"',
            "",
        ]
    lines += [
        "[[homeserver]]",
        f'server_name = "{server.server_name}"',
        f'upstream = "http://{LOOPBACK}:{server.synapse_fed_port}"',
        "",
    ]
    for remote in server.remotes:
        lines += [
            "[[remote]]",
            f'server_name = "{remote.server.server_name}"',
            f'tier = "{remote.tier}"',
            f'address = "{remote.server.server_name}"',
        ]
        if remote.pin_ca:
            lines.append(f"ca = {_toml_str(fed.ca.cert)}")
        if remote.pin_keys:
            lines.append(f'keys = {{ "{remote.server.key_id}" = "{remote.server.verify_key_base64}" }}')
        lines.append("")
    gateway.config_path.write_text("\n".join(lines))
    return gateway


def _toml_str(path: Path | str) -> str:
    return json.dumps(str(path))

"""Hub settings: one object, from environment variables (``LIENTHONG_*``) with documented defaults."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, fields
from typing import Any

from lienthong.hub.errors import SUCCESS_SPELLINGS


class SettingsError(ValueError):
    """A setting the hub cannot start with, said in Vietnamese (``vi``) and English (``en``)."""

    def __init__(self, vi: str, en: str) -> None:
        super().__init__(f"{vi} / {en}")
        self.vi, self.en = vi, en


@dataclass(frozen=True)
class HubSettings:
    database_url: str = "sqlite:///var/lienthong.db"
    """SQLAlchemy URL; ``postgresql+psycopg://user@host/db`` in production."""
    host: str = "127.0.0.1"
    port: int = 8120
    workers: int = 1
    login_path: str = "/api/login"
    """Where clients POST ``{"username", "password"}``."""
    logout_path: str = "/api/logout"
    """Where clients POST ``{"session"}`` to end that session."""
    integration_path: str = "/api/integration"
    """Where clients POST envelopes; dispatches on ``service`` (pushes and shares)."""
    share_path: str = "/api/share"
    """Second envelope endpoint (OpenCPS sends category calls here); dispatches the same way."""
    lgsp_prefix: str = "/lgsp"
    """Where the provincial adapters' front door lives (``{prefix}/token``,
    ``{prefix}/{Service}``, ``{prefix}/KetNoiMotCuaQuocGia/{Service}``); empty: no such door."""
    lgsp_aliases: str = (
        "ThemMoiHoSo=DongBoHoSoMC:False,CapNhatHoSo=DongBoHoSoMC:True,"
        "CapNhatTienDo=CapNhatTienDoHoSoMC"
    )
    """Other names of push services on that door: comma-separated ``Alias=Service`` or
    ``Alias=Service:isUpdating``."""
    session_ttl_seconds: int = 1800
    max_body_bytes: int = 16 * 1024 * 1024
    max_records_per_envelope: int = 5000
    """Records (items of ``data``) allowed in one envelope; more are refused with code 16
    before any record is looked at."""
    login_failures_per_account: int = 5
    """Failed logins allowed per account within ``login_window_seconds`` before refusing."""
    login_failures_per_client: int = 20
    login_window_seconds: int = 300
    public_submissions_per_client: int = 10
    """Citizen submissions (PAKN, questions; forms and API) allowed per client address within
    ``public_window_seconds`` before refusing (``0``: no limit)."""
    public_window_seconds: int = 3600
    secret_key: str | None = field(default=None, repr=False)
    """Signs the citizens' form tokens (at least 32 characters); unset or empty: the hub
    generates a key once and keeps it in the database, shared by every worker. Never logged."""
    public_lookups_per_client: int = 120
    """Anonymous lookups (``GET /tra-cuu`` with a dossier code, ``GET /pakn``, ``GET /hoi-dap``)
    allowed per client address within ``public_lookup_window_seconds`` (``0``: no limit)."""
    public_lookup_window_seconds: int = 60
    trusted_proxies: str = ""
    """Comma-separated addresses or networks (CIDR) of reverse proxies whose ``X-Forwarded-For``
    names the client; empty: no proxy is trusted and the peer address is the client."""
    metrics_networks: str = "127.0.0.1/32,::1/128"
    """Comma-separated addresses or networks (CIDR) of the clients that may read ``GET
    /metrics`` (a Prometheus server); anyone else gets the 404 of an unknown path. Default: the
    hub's own machine only; empty: nobody."""
    success_code: str = "0"
    """How answers spell success unless an account has its own form (``lienthong accounts
    success-code``): ``0`` the string "0" (every known real client accepts it: one compares
    the text with "0", OpenCPS parses an integer), ``00`` QCVN 120's table, ``integer`` the
    JSON number 0."""
    signature_mode: str = "if-present"
    """Whether envelopes must be signed unless the account or the service has its own mode:
    ``required``, ``if-present`` (a signature is verified when there is one; unsigned clients
    keep working) or ``off`` (docs/security.md)."""
    signature_services: str = ""
    """Modes per service, ``Service=mode`` separated by commas (e.g.
    ``DongBoHoSoMC=required``)."""
    trust_anchors: str = ""
    """PEM files (comma-separated) of the roots a signer's path must end at: the
    government-service root, the national root, or the test PKI's. None by default."""
    signature_fetch: bool = True
    """Fetch the signer's OCSP answer (else the CRL) when the signature carries none."""
    signature_fetch_timeout_seconds: int = 10
    signature_cache_entries: int = 10_000
    """Revocation answers and validated paths the hub keeps between verifications (``0``: none,
    every signed push fetches what it needs)."""
    signature_cache_seconds: int = 3600
    """The longest an answer is kept, even when its nextUpdate lies further."""
    signature_clock_skew_seconds: int = 300
    """How far a signing time may lie ahead of the hub's clock."""
    receipt_format: str = "cades"
    """How the hub signs its receipts: ``cades`` (detached CMS) or ``jws``; receipts are
    signed only when one of the ``receipt_*`` keys below is set (docs/security.md,
    "Receipts")."""
    receipt_pkcs12: str = ""
    """A PKCS#12 file with the hub's receipt key and its chain (development: a warning at
    start)."""
    receipt_cert_file: str = ""
    """A PEM file: the hub's certificate, then its chain (with ``receipt_key_file``)."""
    receipt_key_file: str = ""
    """The PEM private key of ``receipt_cert_file`` (development)."""
    receipt_password_file: str = ""
    """A file holding the password of the PKCS#12 file or the key (first line)."""
    receipt_pkcs11_token: str = ""
    """The label of a PKCS#11 token or HSM holding the receipt key (production; the library:
    ``LIENTHONG_PKCS11_MODULE``, else SoftHSM2's)."""
    receipt_pkcs11_key_label: str = ""
    """The label of the key (and its certificate) on that token."""
    receipt_pin_file: str = ""
    """A file holding the token's PIN (first line)."""
    receipt_check_interval_seconds: int = 3600
    """With ``trust_anchors`` set, the hub checks its receipt key's certificate at start and
    again this often (or once the OCSP answer it staples expires): the answer is stapled to every
    CAdES receipt; a revoked or expired key signs no receipt (docs/security.md, "Receipts")."""
    keep_raw_bodies: bool = True
    """Keep the raw body of accepted pushes in the message log (evidence)."""
    master_key_file: str = ""
    """A file holding the master key of encryption at rest (32 bytes, hex or base64; mode
    0600; ``lienthong keys generate``): the kept request bodies are sealed with AES-256-GCM
    under data keys it wraps (docs/security.md, "Encryption at rest"). Empty (and no token):
    bodies are kept as received."""
    master_key_pkcs11_token: str = ""
    """Instead of a file: the label of the PKCS#11 token or HSM holding the master key."""
    master_key_pkcs11_label: str = ""
    """The label of the AES-256 master key on that token (``CKA_WRAP``, ``CKA_UNWRAP``)."""
    master_key_pin_file: str = ""
    """A file holding that token's PIN (first line)."""
    master_key_pkcs11_module: str = ""
    """The PKCS#11 library of that token; empty: ``LIENTHONG_PKCS11_MODULE``, else SoftHSM2's."""
    evidence: bool = True
    """Keep every envelope the hub takes (pushes and shares that pass authorization) in the
    evidence store: its exact bytes, signature, verification and receipt, hash-linked and
    time-stamped in batches (docs/evidence.md). Off only for benchmarks, or when an operator
    decides so."""
    tsa_url: str = ""
    """The RFC 3161 time-stamp authority that stamps the evidence chain in batches; empty: no
    time-stamps (and no failing closed), said by ``lienthong evidence status`` and /metrics."""
    tsa_timeout: float = 10.0
    """Seconds one time-stamp request may take."""
    timestamp_interval: float = 5.0
    """Seconds between the rounds that time-stamp the entries written since the last."""
    timestamp_batch_max: int = 50_000
    """Entries one time-stamped batch covers at most."""
    timestamp_fail_closed_hours: float = 4.0
    """With a TSA configured: when the oldest entry without a time-stamp is older than this,
    pushes are refused (answer code 60) until stamping recovers (``0``: never refuse)."""
    evidence_retention_days: int = 30
    """Days evidence entries stay in the database before ``lienthong evidence archive`` moves
    them (whole time-stamped batches) to signed segment files (X-Road's default: 30)."""
    profile: str | None = None
    """Packet catalog profile (default: ``LIENTHONG_PROFILE`` or qcvn120-2019)."""
    # The operator's identity, shown in the header and footer of every public page. The
    # defaults are placeholders, marked "(mẫu)": an operator sets all four.
    agency_name: str = "Trung tâm Phục vụ hành chính công (tên mẫu)"
    """The agency that runs the portal, as citizens know it."""
    agency_name_en: str = ""
    """Its English name, for the English pages; empty: ``agency_name`` there too."""
    agency_hotline: str = "1900 0000 (số mẫu)"
    """The hotline citizens may call (shown as is, dialled without its spaces)."""
    agency_address: str = "Số 1 đường Mẫu, phường Mẫu, tỉnh Mẫu (địa chỉ mẫu)"
    agency_logo: str = ""
    """A PNG, JPEG, GIF or WebP file (at most 256 KiB), read once at start and served at
    ``/logo``; empty: a plain built-in emblem (a yellow star on red)."""

    tls_certfile: str = ""
    """The server certificate (PEM, with its chain): with ``tls_keyfile``, the hub serves HTTPS
    only (TLS 1.2 at least); empty: plain HTTP (behind a proxy that ends TLS)."""
    tls_keyfile: str = ""
    """The certificate's private key (PEM, unencrypted)."""
    tls_client_ca: str = ""
    """CA certificates (PEM) of client certificates: a client may present one (mutual TLS), and
    an account with bound certificates (``lienthong accounts bind-cert``) must; empty: no
    client certificate is asked for."""

    def __post_init__(self) -> None:
        if self.success_code not in SUCCESS_SPELLINGS:
            forms = ", ".join(SUCCESS_SPELLINGS)
            raise SettingsError(
                f"LIENTHONG_SUCCESS_CODE: {self.success_code!r} không hợp lệ, chọn {forms}",
                f"LIENTHONG_SUCCESS_CODE: {self.success_code!r} is not a known form, choose {forms}",
            )
        self.metrics_clients()  # a bad entry stops the hub at start, not at the first scrape

    def metrics_clients(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``metrics_networks`` parsed; SettingsError naming an entry that is not a network."""
        networks = []
        for item in (part.strip() for part in self.metrics_networks.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise SettingsError(
                    f"LIENTHONG_METRICS_NETWORKS: {item!r} không phải địa chỉ hoặc mạng IP",
                    f"LIENTHONG_METRICS_NETWORKS: {item!r} is not an IP address or network",
                ) from None
        return tuple(networks)

    @property
    def receipts(self) -> bool:
        """True when a receipt key is set: every push answer carries a signed receipt."""
        return bool(self.receipt_pkcs12 or self.receipt_cert_file or self.receipt_pkcs11_token)

    @property
    def tls(self) -> bool:
        """True when the hub serves HTTPS."""
        return bool(self.tls_certfile and self.tls_keyfile)

    def proxy_options(self) -> dict[str, Any]:
        """uvicorn's ``proxy_headers`` and ``forwarded_allow_ips`` for ``trusted_proxies``;
        ValueError naming an entry that is neither an address nor a network."""
        proxies = [item.strip() for item in self.trusted_proxies.split(",") if item.strip()]
        for item in proxies:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"LIENTHONG_TRUSTED_PROXIES: {item!r} is not an IP address or network"
                ) from None
        # uvicorn trusts 127.0.0.1 when forwarded_allow_ips is unset: never leave it unset
        return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies}

    @classmethod
    def from_env(cls, **overrides: object) -> HubSettings:
        values: dict[str, object] = {}
        for spec in fields(cls):
            default = getattr(cls, spec.name, None)
            raw = os.environ.get(f"LIENTHONG_{spec.name.upper()}")
            if raw is None:
                continue
            if isinstance(default, bool):
                values[spec.name] = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, int | float):
                number = type(default)
                try:
                    values[spec.name] = number(raw)
                except ValueError:
                    name = f"LIENTHONG_{spec.name.upper()}"
                    what_vi, what_en = (
                        ("số nguyên", "an integer") if number is int else ("số", "a number")
                    )
                    raise SettingsError(
                        f"{name}: {raw!r} không phải {what_vi}", f"{name}: {raw!r} is not {what_en}"
                    ) from None
            else:
                values[spec.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

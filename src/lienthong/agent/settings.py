"""Agent settings: one object, from a TOML file and ``LIENTHONG_AGENT_*`` environment variables.

Precedence, lowest first: the defaults below, the TOML file (``lienthong agent --config
agent.toml``), the environment, then command-line options. Secrets (the portal password) are
never shown: ``repr`` and :meth:`AgentSettings.describe` print ``***`` in their place.

```toml
database_url = "sqlite:///var/agent.db"
port = 8130
units = ["000.00.00.H56"]

[portal]
base_url = "http://127.0.0.1:8120"
username = "mcdt_thanhhoa"
password_file = "/etc/lienthong/portal-password"

[[api_keys]]
name = "motcua"
key_sha256 = "<sha256 hex of the key>"   # lienthong agent key motcua prints both
units = ["000.00.00.H56"]
```
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import ssl
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lienthong.spec.identifiers import agency_is_within

__all__ = [
    "ENV_PREFIX",
    "PORTAL_KINDS",
    "AgentSettings",
    "ApiKey",
    "EvidenceSettings",
    "PortalSettings",
    "PullSettings",
    "SealingSettings",
    "SettingsError",
    "SigningSettings",
    "WebhookSettings",
    "client_tls",
    "hash_api_key",
    "new_api_key",
]

ENV_PREFIX = "LIENTHONG_AGENT_"
_REDACTED = "***"


class SettingsError(ValueError):
    """A setting is malformed or missing; the message names it."""


def hash_api_key(key: str) -> str:
    """SHA-256 (hex) of a local API key. Keys are long random strings, so a fast hash is enough."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    """A new random local API key (256 bits, URL-safe)."""
    return "lta_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    """A local system's key for the agent's API: who it is and which units it may submit for."""

    name: str
    """Recorded as the submitter of every row this key queues, and in the dead-letter audit."""
    key_sha256: str = field(repr=False)
    """SHA-256 (hex) of the key; the key itself is never stored."""
    units: tuple[str, ...] = ()
    """Agency codes this key may submit for (and the units under them in the code hierarchy)."""

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(hash_api_key(key), self.key_sha256.lower())

    def may_submit_for(self, unit: str) -> bool:
        return any(agency_is_within(unit, own) for own in self.units)


#: ``portal.kind``: the QCVN 120 envelope protocol (the hub, the portal) or a provincial adapter.
PORTAL_KINDS = ("envelope", "lgsp")

#: Portal settings that hold a secret: never shown, never logged.
_PORTAL_SECRETS = ("password", "lgsp_client_secret")


@dataclass(frozen=True)
class PortalSettings:
    """Where and as whom the agent delivers: the hub, the real portal (adapter paths differ), or
    a provincial adapter (LGSP) in front of the portal (``kind = "lgsp"``, the ``lgsp_*``
    settings; see :mod:`lienthong.agent.lgsp`)."""

    kind: str = "envelope"
    """``envelope`` (QCVN 120 envelopes) or ``lgsp`` (a provincial adapter)."""
    base_url: str = "http://127.0.0.1:8120"
    login_path: str = "/api/login"
    integration_path: str = "/api/integration"
    share_path: str = "/api/share"
    dstcode: str = "VN:GOV:000.00.00.G22:vpcpdvcprovider"
    """Value of the ``dstcode`` header sent on every call."""
    username: str = ""
    password: str = field(default="", repr=False)
    """Prefer ``password_file``; never logged, shown as ``***``."""
    password_file: str | None = None
    """A file holding the password (first line); read at start."""
    lgsp_token_path: str = "/token"
    """The adapter's OAuth2 token endpoint: a path under ``base_url``, or a full URL."""
    lgsp_client_id: str = ""
    """The adapter's client id (empty: ``username``)."""
    lgsp_client_secret: str = field(default="", repr=False)
    """The client secret (empty, and no file: the password); never logged, shown as ``***``."""
    lgsp_client_secret_file: str | None = None
    """A file holding the client secret (first line); read at start."""
    lgsp_share_prefix: str = "KetNoiMotCuaQuocGia"
    """Path segment in front of the share services (``GET {base_url}/{prefix}/{Service}``)."""
    lgsp_add_path: str = ""
    """Path of ``DongBoHoSoMC`` with ``isUpdating`` False on adapters with separate URLs
    (``ThemMoiHoSo``); empty: ``DongBoHoSoMC``."""
    lgsp_update_path: str = ""
    """Path of ``DongBoHoSoMC`` with ``isUpdating`` True (``CapNhatHoSo``); empty: ``DongBoHoSoMC``."""
    lgsp_progress_path: str = ""
    """Path of ``CapNhatTienDoHoSoMC`` (``CapNhatTienDo``); empty: ``CapNhatTienDoHoSoMC``."""
    ca_file: str | None = None
    """CA certificates (PEM) the portal's HTTPS certificate must chain to; unset: the
    system's CAs."""
    client_cert_file: str | None = None
    """The agent's client certificate (PEM, with its chain) for mutual TLS; unset: none."""
    client_key_file: str | None = None
    """Its private key (PEM, unencrypted); unset: in ``client_cert_file``."""
    receipt_anchors: tuple[str, ...] = ()
    """PEM files of the roots the hub's receipt certificate must chain to; empty:
    ``signing.trust_anchors`` (docs/agent.md, "Receipts")."""
    require_receipts: bool = False
    """A push answer without a signed receipt counts as an invalid receipt (loud: logged,
    counted, shown, in the rows' last error); the answer is acted on either way."""

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{spec.name}={_REDACTED if spec.name in _PORTAL_SECRETS and getattr(self, spec.name) else getattr(self, spec.name)!r}"
            for spec in fields(self)
        )
        return f"PortalSettings({shown})"

    def resolved_password(self) -> str:
        """The password, read from ``password_file`` when one is set."""
        return _first_line_or(self.password_file, self.password, "portal.password_file")

    @property
    def account(self) -> str:
        """Who the agent is at the portal: ``username``, or the adapter's client id."""
        if self.kind == "lgsp":
            return self.lgsp_client_id or self.username
        return self.username

    def tls(self) -> ssl.SSLContext:
        """The TLS context of the calls to the portal (:func:`client_tls`)."""
        return client_tls(
            self.ca_file, self.client_cert_file, self.client_key_file, "portal.", "client_"
        )

    def resolved_client_secret(self) -> str:
        """The adapter's client secret: its file, the setting, else the password."""
        if self.lgsp_client_secret_file or self.lgsp_client_secret:
            return _first_line_or(
                self.lgsp_client_secret_file,
                self.lgsp_client_secret,
                "portal.lgsp_client_secret_file",
            )
        return self.resolved_password()


def client_tls(
    ca_file: str | None,
    cert_file: str | None = None,
    key_file: str | None = None,
    prefix: str = "",
    cert_prefix: str = "",
) -> ssl.SSLContext:
    """The ``verify`` of an ``httpx.Client``: TLS 1.2 at least, the server's certificate checked
    against ``ca_file`` (unset: the system's CAs), and the client certificate ``cert_file``
    (its key in ``key_file`` or in the same file) presented when set. SettingsError names the
    setting (``prefix`` + ``ca_file`` / ``cert_prefix`` + ``cert_file`` ...) when one cannot
    be used."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    setting = f"{prefix}ca_file"
    try:
        if ca_file:
            context = ssl.create_default_context(cafile=ca_file)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
        if key_file and not cert_file:
            raise SettingsError(
                f"{prefix}{cert_prefix}key_file needs {prefix}{cert_prefix}cert_file"
            )
        if cert_file:
            setting = f"{prefix}{cert_prefix}cert_file"
            context.load_cert_chain(cert_file, key_file or None)
    except OSError as exc:  # ssl.SSLError too: not PEM, a key that does not match
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise SettingsError(f"{setting}: cannot use it: {reason}") from exc
    return context


def _first_line_or(path: str | None, value: str, setting: str) -> str:
    """The first line of the file ``path`` when one is set, else ``value``."""
    if path:
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{setting}: cannot read {path}: {exc.strerror}") from exc
        return text.splitlines()[0] if text else ""
    return value


#: The category lists pulled when ``pulls.categories`` is not set.
DEFAULT_PULLED_CATEGORIES = (
    "LayDanhMucCoQuan",
    "LayDanhMucLinhVuc",
    "LayDanhMucTinhThanh",
    "LayDanhMucPhuongXa",
    "LayDanhMucGioiTinh",
    "LayDanhMucDanToc",
    "LayDanhMucQuocGia",
    "LayDanhMucLePhi",
    "LayDanhMucCanCuPhapLy",
)


@dataclass(frozen=True)
class PullSettings:
    """``[pulls]``: what the agent pulls from the portal's share services, and how often.

    An interval of 0 turns that pull off. See :mod:`lienthong.agent.pulls`."""

    enabled: bool = False
    """Run the pull thread (``lienthong agent pull`` works either way)."""
    units: tuple[str, ...] = ()
    """Units to pull for (default: the agent's ``units``)."""
    pakn_interval_seconds: float = 60.0
    """``DanhSachPAKNChoXuLy``: pending petitions."""
    questions_interval_seconds: float = 60.0
    """``LayDanhSachHoiDapGuiTuDVCQG``: questions citizens sent on the portal."""
    qa_sets_interval_seconds: float = 86400.0
    """``LayDanhSachHoiDapBoCoQuan``: the ministries' Q&A sets."""
    catalog_interval_seconds: float = 86400.0
    """``LayDanhSachTTHC``, then ``LayThuTuc`` per procedure."""
    categories_interval_seconds: float = 86400.0
    """The ``LayDanhMuc*`` lists of ``categories``."""
    categories: tuple[str, ...] = DEFAULT_PULLED_CATEGORIES
    procedure_details: int = 200
    """Most ``LayThuTuc`` calls per catalog pull (round-robin over the list); 0: list only."""
    page_size: int = 100
    """``soBanGhiMoiTrang`` of the paged lists."""
    max_pages: int = 1000
    """Safety stop for one paged pull."""


@dataclass(frozen=True)
class WebhookSettings:
    """``[webhook]``: where the agent notifies the local system of pulled items (signed POSTs).

    The secret is never logged; ``repr`` shows ``***``. See :mod:`lienthong.agent.webhooks`."""

    url: str = ""
    """Empty: no webhook (nothing is queued for it)."""
    secret: str = field(default="", repr=False)
    secret_file: str | None = None
    """A file holding the secret (first line); preferred over ``secret``."""
    timeout_seconds: float = 10.0
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    poll_interval_seconds: float = 1.0
    ca_file: str = ""
    """CA certificates (PEM) an ``https://`` webhook's certificate must chain to; empty: the
    system's CAs."""

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{spec.name}={_REDACTED if spec.name == 'secret' and self.secret else getattr(self, spec.name)!r}"
            for spec in fields(self)
        )
        return f"WebhookSettings({shown})"

    def tls(self) -> ssl.SSLContext:
        """The TLS context of the webhook's calls (:func:`client_tls`)."""
        return client_tls(self.ca_file or None, prefix="webhook.")

    def resolved_secret(self) -> str:
        """The secret, read from ``secret_file`` when one is set."""
        return _first_line_or(self.secret_file, self.secret, "webhook.secret_file")


@dataclass(frozen=True)
class SigningSettings:
    """``[signing]``: the key that signs every delivered envelope (see
    :mod:`lienthong.agent.signing`). Empty ``format``: envelopes go unsigned."""

    format: str = ""
    """``cades`` (detached CMS, CAdES-B-B), ``jws`` (detached JWS), or empty: no signature."""
    pkcs11_token: str = ""
    """The label of a PKCS#11 token (USB token, HSM) holding the key; preferred in production."""
    pkcs11_key_label: str = ""
    pkcs11_module: str = ""
    """The PKCS#11 library (empty: ``LIENTHONG_PKCS11_MODULE`` or SoftHSM2's)."""
    pin_file: str = ""
    """A file holding the token's PIN (first line)."""
    pkcs12_file: str = ""
    """A PKCS#12 file with the key and its chain (development: a warning at start)."""
    cert_file: str = ""
    """A PEM file: the certificate, then its chain (with ``key_file``; development)."""
    key_file: str = ""
    password_file: str = ""
    """A file holding the PKCS#12 or key password (first line)."""
    scheme: str = ""
    """RSA: ``rsassa_pss`` (default) or ``rsassa_pkcs1v15``."""
    trust_anchors: tuple[str, ...] = ()
    """PEM files of the roots the agent checks its own certificate against before signing."""
    check_interval_seconds: float = 3600.0
    """How often the agent re-checks its certificate (and renews the stapled OCSP answer)."""
    fetch_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class EvidenceSettings:
    """``[evidence]``: every envelope the agent delivers, kept with its answer in the evidence
    store and time-stamped in batches (see :mod:`lienthong.agent.evidence`)."""

    enabled: bool = True
    """Keep an entry for every envelope the portal answered (off only for benchmarks, or when
    an operator decides so)."""
    tsa_url: str = ""
    """The RFC 3161 time-stamp authority that stamps the agent's chain; empty: no time-stamps
    (and no failing closed), said in the status."""
    interval_seconds: float = 5.0
    """Seconds between the rounds that time-stamp the entries written since the last."""
    batch_max: int = 50_000
    """Entries one time-stamped batch covers at most."""
    tsa_timeout_seconds: float = 10.0
    """Seconds one time-stamp request may take."""
    fail_closed_hours: float = 4.0
    """With a TSA configured: when the oldest entry without a time-stamp is older than this,
    delivery holds (rows wait in the outbox) until stamping recovers (``0``: never hold)."""


@dataclass(frozen=True)
class SealingSettings:
    """``[sealing]``: encryption at rest of the agent's evidence bodies (AES-256-GCM, data keys
    wrapped by this master key; docs/security.md, "Encryption at rest"). No master key (the
    default): bodies are kept as sent."""

    master_key_file: str = ""
    """A file holding the master key (32 bytes, hex or base64; ``lienthong keys generate``)."""
    master_key_pkcs11_token: str = ""
    """Instead of a file: the label of the PKCS#11 token or HSM holding the master key."""
    master_key_pkcs11_label: str = ""
    """The label of the AES-256 master key on that token (``CKA_WRAP``, ``CKA_UNWRAP``)."""
    master_key_pin_file: str = ""
    """A file holding the token's PIN (first line)."""
    master_key_pkcs11_module: str = ""
    """The PKCS#11 library (empty: ``LIENTHONG_PKCS11_MODULE`` or SoftHSM2's)."""


_NESTED: dict[
    str,
    type[PullSettings]
    | type[WebhookSettings]
    | type[SigningSettings]
    | type[EvidenceSettings]
    | type[SealingSettings],
] = {
    "pulls": PullSettings,
    "webhook": WebhookSettings,
    "signing": SigningSettings,
    "evidence": EvidenceSettings,
    "sealing": SealingSettings,
}
"""Nested tables read generically (``[pulls]``, ``[webhook]``, ``[signing]``, ``[evidence]``,
``[sealing]``; env ``LIENTHONG_AGENT_PULLS_*``, ``LIENTHONG_AGENT_WEBHOOK_*``,
``LIENTHONG_AGENT_EVIDENCE_*``, ``LIENTHONG_AGENT_SEALING_*``)."""


@dataclass(frozen=True)
class AgentSettings:
    """Every setting of the agent, with its default."""

    database_url: str = "sqlite:///var/agent.db"
    """SQLAlchemy URL of the agent's own database (outbox); PostgreSQL works too."""
    host: str = "127.0.0.1"
    port: int = 8130
    units: tuple[str, ...] = ()
    """The unit code(s) (``madonvi``) this agent serves; the default ``madonvi`` of a submission
    when it names none and the key has several units."""
    api_keys: tuple[ApiKey, ...] = ()
    portal: PortalSettings = field(default_factory=PortalSettings)
    batch_size: int = 500
    """Most records per envelope sent to the portal."""
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    request_timeout_seconds: float = 30.0
    poll_interval_seconds: float = 1.0
    """How often the delivery worker looks for due rows when nothing wakes it."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest body the local API accepts."""
    profile: str | None = None
    """Packet catalog profile used to validate submissions (default qcvn120-2019)."""
    deliver: bool = True
    """Run the delivery worker (false: accept and queue only)."""
    pulls: PullSettings = field(default_factory=PullSettings)
    """``[pulls]``: scheduled pulls of what the portal shares."""
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    """``[webhook]``: notifications of pulled items to the local system."""
    signing: SigningSettings = field(default_factory=SigningSettings)
    """``[signing]``: the key that signs every delivered envelope."""
    evidence: EvidenceSettings = field(default_factory=EvidenceSettings)
    """``[evidence]``: every delivered envelope and its answer, kept and time-stamped."""
    sealing: SealingSettings = field(default_factory=SealingSettings)
    """``[sealing]``: the master key that seals the kept evidence bodies at rest."""
    stats_auto_send: bool = True
    """Queue last month's DongBoThongKeHoSo for each of ``units`` once the month is over."""
    stats_send_day: int = 1
    """Day of the month (1-28, Vietnam time) from which last month's statistics are sent."""
    stats_send_hour: int = 1
    """Hour (0-23, Vietnam time) of ``stats_send_day`` from which they are sent."""
    status_access: str = "local"
    """Who may read the status page ``/`` and ``/metrics``: ``local`` (loopback clients only),
    ``open`` (anyone who reaches the port) or ``off``."""
    tls_certfile: str = ""
    """The certificate (PEM, with its chain) of the local API: with ``tls_keyfile``, the agent
    serves HTTPS only (TLS 1.2 at least); empty: plain HTTP."""
    tls_keyfile: str = ""
    """Its private key (PEM, unencrypted)."""

    # -- loading ----------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        config: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> AgentSettings:
        """Defaults, then the TOML file ``config``, then ``LIENTHONG_AGENT_*``, then ``overrides``
        (``None`` values are ignored)."""
        values: dict[str, Any] = {}
        if config is not None:
            try:
                with Path(config).open("rb") as handle:
                    values = tomllib.load(handle)
            except OSError as exc:
                raise SettingsError(f"cannot read {config}: {exc.strerror}") from exc
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"{config}: {exc}") from exc
        settings = cls.from_mapping(values)
        settings = settings._with_env(os.environ if environ is None else environ)
        chosen = {k: v for k, v in overrides.items() if v is not None}
        portal_chosen = {k: chosen.pop(k) for k in list(chosen) if k.startswith("portal_")}
        if portal_chosen:
            chosen["portal"] = replace(
                settings.portal,
                **{k.removeprefix("portal_"): v for k, v in portal_chosen.items()},
            )
        return replace(settings, **chosen) if chosen else settings

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AgentSettings:
        """Settings from a parsed TOML document (unknown keys are an error: typos show)."""
        known = {spec.name for spec in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
        result: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name not in values:
                continue
            raw = values[spec.name]
            if spec.name == "portal":
                result["portal"] = _portal_from_mapping(raw)
            elif spec.name in _NESTED:
                result[spec.name] = _nested_from_mapping(spec.name, raw)
            elif spec.name == "api_keys":
                result["api_keys"] = tuple(_api_key_from_mapping(item) for item in _list(raw))
            elif spec.name == "units":
                result["units"] = tuple(_strings(raw, "units"))
            else:
                result[spec.name] = _typed(spec.name, getattr(cls, spec.name, None), raw)
        return cls(**result)

    def _with_env(self, environ: Mapping[str, str]) -> AgentSettings:
        changes: dict[str, Any] = {}
        for spec in fields(self):
            if spec.name in ("portal", "api_keys", *_NESTED):
                continue
            raw = environ.get(ENV_PREFIX + spec.name.upper())
            if raw is None:
                continue
            if spec.name == "units":
                changes["units"] = tuple(u for u in raw.replace(";", ",").split(",") if u.strip())
            else:
                changes[spec.name] = _typed(spec.name, getattr(type(self), spec.name, None), raw)
        for name in ("portal", *_NESTED):
            nested = _nested_from_env(name, getattr(self, name), environ)
            if nested is not None:
                changes[name] = nested
        raw_keys = environ.get(ENV_PREFIX + "API_KEYS")
        if raw_keys is not None:
            changes["api_keys"] = parse_api_keys(raw_keys)
        return replace(self, **changes) if changes else self

    # -- use ---------------------------------------------------------------------------------

    def key_for(self, presented: str) -> ApiKey | None:
        """The configured key ``presented`` matches, if any (constant-time per key)."""
        found = None
        for key in self.api_keys:
            if key.matches(presented):
                found = key
        return found

    @property
    def receipt_anchors(self) -> tuple[str, ...]:
        """The roots the hub's receipts are checked against: ``portal.receipt_anchors``, else
        ``signing.trust_anchors``."""
        return self.portal.receipt_anchors or self.signing.trust_anchors

    def validate(self) -> None:
        """Refuse settings the agent cannot run with; the message names the setting."""
        if self.batch_size < 1:
            raise SettingsError("batch_size must be at least 1")
        if self.backoff_base_seconds <= 0 or self.backoff_max_seconds < self.backoff_base_seconds:
            raise SettingsError("need 0 < backoff_base_seconds <= backoff_max_seconds")
        if self.request_timeout_seconds <= 0:
            raise SettingsError("request_timeout_seconds must be positive")
        names = [key.name for key in self.api_keys]
        if len(names) != len(set(names)):
            raise SettingsError("api_keys: names must be unique")
        for key in self.api_keys:
            if len(key.key_sha256) != 64:
                raise SettingsError(f"api_keys.{key.name}: key_sha256 must be 64 hex digits")
            if not key.units:
                raise SettingsError(f"api_keys.{key.name}: give at least one unit")
        if self.portal.kind not in PORTAL_KINDS:
            raise SettingsError(f"portal.kind must be one of {', '.join(PORTAL_KINDS)}")
        account = "portal.username" + (
            " (or portal.lgsp_client_id)" if self.portal.kind == "lgsp" else ""
        )
        if self.deliver and not self.portal.account:
            raise SettingsError(f"{account} is required to deliver")
        if self.pulls.enabled and not self.portal.account:
            raise SettingsError(f"{account} is required to pull")
        if self.pulls.page_size < 1 or self.pulls.max_pages < 1:
            raise SettingsError("pulls.page_size and pulls.max_pages must be at least 1")
        signing = self.signing
        if signing.format not in ("", "cades", "jws"):
            raise SettingsError("signing.format must be cades, jws or empty")
        if signing.format and not (
            signing.pkcs11_token or signing.pkcs12_file or (signing.cert_file and signing.key_file)
        ):
            raise SettingsError(
                "signing needs signing.pkcs11_token, signing.pkcs12_file, or signing.cert_file "
                "with signing.key_file"
            )
        if signing.format and not signing.trust_anchors:
            raise SettingsError("signing.trust_anchors: the roots to check the own certificate")
        if self.portal.require_receipts and not self.receipt_anchors:
            raise SettingsError(
                "portal.require_receipts needs portal.receipt_anchors (or signing.trust_anchors)"
            )
        hook = self.webhook
        if hook.url and not hook.url.startswith(("http://", "https://")):
            raise SettingsError("webhook.url must be an http:// or https:// URL")
        if hook.url and not (hook.secret or hook.secret_file):
            raise SettingsError(
                "webhook.secret or webhook.secret_file is required with webhook.url"
            )
        if hook.backoff_base_seconds <= 0 or hook.backoff_max_seconds < hook.backoff_base_seconds:
            raise SettingsError(
                "need 0 < webhook.backoff_base_seconds <= webhook.backoff_max_seconds"
            )
        if not 1 <= self.stats_send_day <= 28 or not 0 <= self.stats_send_hour <= 23:
            raise SettingsError("need 1 <= stats_send_day <= 28 and 0 <= stats_send_hour <= 23")
        if self.status_access not in ("local", "open", "off"):
            raise SettingsError("status_access must be local, open or off")
        evidence = self.evidence
        if evidence.tsa_url and not evidence.tsa_url.startswith(("http://", "https://")):
            raise SettingsError("evidence.tsa_url must be an http:// or https:// URL")
        if evidence.interval_seconds <= 0 or evidence.tsa_timeout_seconds <= 0:
            raise SettingsError(
                "evidence.interval_seconds and evidence.tsa_timeout_seconds must be positive"
            )
        if evidence.batch_max < 1 or evidence.fail_closed_hours < 0:
            raise SettingsError("need evidence.batch_max >= 1 and evidence.fail_closed_hours >= 0")

    def describe(self) -> dict[str, Any]:
        """Every setting as plain values for display, secrets replaced by ``***``."""
        shown: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name == "portal":
                shown["portal"] = {
                    f.name: (
                        _REDACTED
                        if f.name in _PORTAL_SECRETS and getattr(value, f.name)
                        else getattr(value, f.name)
                    )
                    for f in fields(PortalSettings)
                }
            elif spec.name == "api_keys":
                shown["api_keys"] = [{"name": k.name, "units": list(k.units)} for k in value]
            elif spec.name in _NESTED:
                shown[spec.name] = {
                    f.name: (
                        _REDACTED
                        if f.name == "secret" and getattr(value, f.name)
                        else (
                            list(getattr(value, f.name))
                            if isinstance(getattr(value, f.name), tuple)
                            else getattr(value, f.name)
                        )
                    )
                    for f in fields(value)
                }
            elif spec.name == "database_url":
                from lienthong.store.db import redact_url

                shown[spec.name] = redact_url(value)
            else:
                shown[spec.name] = list(value) if isinstance(value, tuple) else value
        return shown


def parse_api_keys(text: str) -> tuple[ApiKey, ...]:
    """``name:sha256hex:unit1,unit2`` entries separated by ``;`` or whitespace (the env form)."""
    keys = []
    for entry in text.replace(";", " ").split():
        parts = entry.split(":")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise SettingsError(
                f"{ENV_PREFIX}API_KEYS: expected name:key_sha256:unit[,unit...], got {entry[:40]!r}"
            )
        keys.append(ApiKey(parts[0], parts[1], tuple(u for u in parts[2].split(",") if u)))
    return tuple(keys)


def _list(raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        raise SettingsError("api_keys must be an array of tables ([[api_keys]])")
    return raw


def _strings(raw: Any, name: str) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, Sequence) or not all(isinstance(item, str) for item in raw):
        raise SettingsError(f"{name} must be a string or a list of strings")
    return list(raw)


def _typed(name: str, default: Any, raw: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name}: {raw!r} is not a number") from exc
    if raw is not None and not isinstance(raw, str):
        raise SettingsError(f"{name} must be a string")
    return raw


def _portal_from_mapping(raw: Any) -> PortalSettings:
    portal: PortalSettings = _nested_from_mapping("portal", raw, PortalSettings)
    return portal


def _api_key_from_mapping(raw: Any) -> ApiKey:
    if not isinstance(raw, Mapping):
        raise SettingsError("each api_keys entry must be a table")
    unknown = sorted(set(raw) - {"name", "key_sha256", "units"})
    if unknown:
        raise SettingsError(f"unknown api_keys setting(s): {', '.join(unknown)}")
    name, digest = raw.get("name"), raw.get("key_sha256")
    if not isinstance(name, str) or not name or not isinstance(digest, str):
        raise SettingsError("each api_keys entry needs name and key_sha256")
    return ApiKey(name, digest, tuple(_strings(raw.get("units", []), f"api_keys.{name}.units")))


def _nested_from_mapping(name: str, raw: Any, cls: type[Any] | None = None) -> Any:
    """``[pulls]`` / ``[webhook]`` (``cls``: ``[portal]``) from TOML: unknown keys are an
    error, values typed."""
    cls = cls or _NESTED[name]
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{name} must be a table ([{name}])")
    known = {spec.name: spec for spec in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise SettingsError(f"unknown {name} setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            values[key] = tuple(_strings(value, f"{name}.{key}"))
        else:
            values[key] = _typed(f"{name}.{key}", default, value)
    return cls(**values)


def _nested_from_env(name: str, current: Any, environ: Mapping[str, str]) -> Any:
    """``current`` with the ``LIENTHONG_AGENT_<NAME>_<FIELD>`` variables applied, or None."""
    changes: dict[str, Any] = {}
    for spec in fields(current):
        raw = environ.get(f"{ENV_PREFIX}{name.upper()}_{spec.name.upper()}")
        if raw is None:
            continue
        default = getattr(type(current)(), spec.name)
        if isinstance(default, tuple):
            changes[spec.name] = tuple(
                item.strip() for item in raw.replace(";", ",").split(",") if item.strip()
            )
        else:
            changes[spec.name] = _typed(f"{name}.{spec.name}", default, raw)
    return replace(current, **changes) if changes else None

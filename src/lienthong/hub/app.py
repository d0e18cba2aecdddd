"""The hub's HTTP side: the wire protocol existing one-stop systems already speak.

bytes -> JSON -> envelope checks -> session -> authorization -> signature (over the exact
bytes) -> spec validation -> domain service -> store -> answer (and its signed receipt); every
request and answer is written to the message log.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import orjson
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lienthong.asgi import MAX_COUNTED_BYTES, GuardMiddleware, declared_length, read_limited_body
from lienthong.asgi_tls import client_certificate
from lienthong.evidence.kept import KeptVerification
from lienthong.evidence.stamper import Stamper
from lienthong.evidence.store import EvidenceLog, record_keys
from lienthong.hub import dossiers, petitions, questions, reference, reports
from lienthong.hub.auth import Principal, login, logout, principal_for
from lienthong.hub.csrf import FormTokens
from lienthong.hub.errors import ANSWER_CODES, SUCCESS, HubError, spell_success
from lienthong.hub.health import healthz
from lienthong.hub.metrics import metrics_endpoint
from lienthong.hub.openapi import OPENAPI_PATH, openapi_document, serialized
from lienthong.hub.receipts import (
    ReceiptKeyBlocked,
    ReceiptSigner,
    open_receipt_signer,
    receipt_self_check,
)
from lienthong.hub.settings import HubSettings, SettingsError
from lienthong.hub.signatures import Checked, SignatureGate, SignatureRefused, keep
from lienthong.hub.web import Served, logged, web_routes
from lienthong.security.header import HEADER as SIGNATURE_HEADER
from lienthong.security.sealing import SealingError, master_key_of
from lienthong.security.verify import Verification
from lienthong.spec import Catalog, Validator, load_catalog
from lienthong.spec.catalog import PacketKind
from lienthong.spec.inputs import loads, storable, unstorable_text
from lienthong.spec.validate import EnvelopeResult
from lienthong.store.accounts import Accounts, certificate_fingerprint
from lienthong.store.db import begin_sqlite_write, make_engine, session_factory, upgrade
from lienthong.store.sealing import RAW_BODY, open_sealer, register_sealer
from lienthong.store.tables import MessageLog

logger = logging.getLogger("lienthong.hub")

#: A served service's handler, bound to its hub.
ServiceCall = Callable[[Session, Principal, dict[str, Any]], "Answer"]

#: Whether the envelope being handled needs its strings scanned (set per call, per thread).
_SCAN_STRINGS: ContextVar[bool] = ContextVar("scan_strings", default=True)
#: Whether the caller's account asks for strict validation (set per call, per thread).
_STRICT: ContextVar[bool] = ContextVar("strict", default=False)


@dataclass(slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    service: str | None = None
    account: str | None = None
    unit: str | None = None
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    keep_body: bool = False
    secret: str | None = None
    """The session token of the call, blanked out of the raw body before it is kept."""
    payload: bytes | None = None
    """The serialized body, once it is known."""
    logged: bool = False
    """True when the message log row was committed with the call's own transaction."""
    success_code: str | None = None
    """The form success is spelled in for the caller's account (None: the hub's setting)."""
    headers: dict[str, str] | None = None
    """Extra HTTP headers of the answer (``WWW-Authenticate``, ``Retry-After``, ...)."""
    log_code: str | None = None
    """The code the message log records when the body carries none (an OAuth error answer)."""
    verification: Verification | None = None
    """A refused signature's verification, kept with the message-log row."""
    signature: bytes | None = None
    """That signature as received."""
    receipt: bytes | None = None
    """The signed receipt of a push answer (:mod:`lienthong.hub.receipts`), kept in the log."""
    receipt_signature: bytes | None = None
    """Its signature (DER, or the compact JWS's ASCII)."""

    def serialized(self) -> bytes:
        if self.payload is None:
            self.payload = orjson.dumps(self.body)
        return self.payload


@dataclass(slots=True)
class Call:
    """What the message log records about a request besides the answer."""

    endpoint: str
    client: str
    dstcode: str | None
    request_bytes: int
    started: float
    """``time.perf_counter()`` when the request arrived."""
    signature: str | None = None
    """The ``X-Lienthong-Signature`` header, when the request carried one."""
    client_certificate: str | None = None
    """SHA-256 (hex) of the client certificate the TLS connection presented; None: none, or
    plain HTTP."""
    received_at: dt.datetime | None = None
    """When the request arrived (wall clock, UTC); a receipt says it."""


def _json(answer: Answer) -> Response:
    return Response(
        answer.serialized(),
        status_code=answer.status,
        headers=answer.headers,
        media_type="application/json",
    )


def _error(error: HubError, **context: Any) -> Answer:
    return Answer(error.answer.http_status, error.body(), **context)


def _ok(body: dict[str, Any], **context: Any) -> Answer:
    success = ANSWER_CODES[SUCCESS]
    return Answer(
        200,
        {"error_code": SUCCESS, "message": success.vi, "message_en": success.en, **body},
        **context,
    )


class Hub:
    """The hub's state: database, accounts, validator. One per process (per uvicorn worker)."""

    def __init__(self, settings: HubSettings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        upgrade(self.engine)
        self.sessions = session_factory(self.engine)
        self.accounts = Accounts(self.sessions)
        self.form_tokens = FormTokens.for_hub(self.sessions, settings.secret_key)
        try:  # a wrong master key stops the hub here, in words, before any body is kept
            master = master_key_of(settings)
            #: Seals the kept request bodies (plain when no master key is set).
            self.sealer = open_sealer(self.sessions, master)
        except SealingError as problem:
            raise SettingsError(problem.vi, problem.en) from None
        register_sealer(self.engine, self.sealer)
        self.validator = Validator(load_catalog(settings.profile))
        self.signatures = SignatureGate(settings)
        receipt_key = open_receipt_signer(settings)
        self.receipts = (
            ReceiptSigner(
                receipt_key, settings.receipt_format, receipt_self_check(receipt_key, settings)
            )
            if receipt_key is not None
            else None
        )
        window = settings.timestamp_fail_closed_hours
        #: Time-stamps the evidence chain in batches (its thread runs with the app).
        self.stamper = Stamper(
            self.sessions,
            side="hub",
            tsa_url=settings.tsa_url if settings.evidence else "",
            interval=settings.timestamp_interval,
            batch_max=settings.timestamp_batch_max,
            timeout=settings.tsa_timeout,
            fail_closed_after=dt.timedelta(hours=window) if window > 0 else None,
        )
        #: For accounts whose policy is strict (``lienthong accounts strict``).
        self.strict_validator = Validator(self.validator.catalog, strict=True)
        self.handlers: dict[str, ServiceCall] = {
            name: partial(handler, self)
            for name, handler in service_handlers(self.validator.catalog).items()
        }
        with self.sessions() as db:
            reference.load_bundled_if_empty(db, self.validator)
            questions.load_bundled_if_empty(db, self.validator)

    # -- entry points (run in a worker thread) ---------------------------------------------------

    def login(self, body: bytes, client: str, certificate: str | None = None) -> Answer:
        value, problem, _ = loads(body)
        if problem is not None:
            return _error(HubError("10", problem.vi, problem.en))
        if not isinstance(value, dict):
            return _error(
                HubError("12", "cần {username, password}", "expected {username, password}")
            )
        username, password = value.get("username"), value.get("password")
        if not isinstance(username, str) or not username or not isinstance(password, str):
            return _error(HubError("12", "username, password", "username, password"))
        bad = unstorable_text(value)
        if bad is not None:  # a NUL or a lone surrogate: no account can be named so
            return _error(HubError("12", f"{bad}: ký tự không hợp lệ", f"{bad}: invalid character"))
        return self.sign_in(username, password, client, certificate)

    def sign_in(
        self, username: str, password: str, client: str, certificate: str | None = None
    ) -> Answer:
        """A session for ``username`` (its attempts counted and limited, its bound client
        certificates required: :func:`auth.login`); the answer of every front door's login.
        ``certificate``: the fingerprint of the connection's client certificate."""
        with self.sessions() as db:
            try:
                token, ttl, form = login(
                    db, self.accounts, self.settings, username, password, client, certificate
                )
            except HubError as error:
                return _error(error, account=username[:128])
        return _ok({"session": token, "expires_in": ttl}, account=username, success_code=form)

    def logout(self, body: bytes) -> Answer:
        """End the session named by ``{"session"}``. Like a token revocation (RFC 7009), an
        unknown or expired session is answered the same: the caller learns nothing of it."""
        value, problem, _ = loads(body)
        if problem is not None:
            return _error(HubError("10", problem.vi, problem.en))
        token = value.get("session") if isinstance(value, dict) else None
        if not isinstance(token, str) or not token:
            return _error(HubError("12", "session", "session"))
        if unstorable_text(value) is not None:  # no session token holds such characters
            return _ok({"ended": True})
        with self.sessions() as db:
            logout(db, token)
        answer = _ok({"ended": True})
        answer.secret = token
        return answer

    def handle(
        self,
        call: Call,
        body: bytes | None,
        early: Answer | None = None,
        work: Callable[[bytes], Answer] | None = None,
    ) -> Answer:
        """Answer one request to the login, integration or share endpoint (or, by ``work``,
        another front door's), and log it.

        ``early`` is an answer already decided before the body was read (too large, wrong
        content type). An accepted push is logged in its own transaction, so the data and the
        evidence of its receipt are committed together; anything else is logged after.
        """
        answer = early
        if answer is None:
            assert body is not None
            try:
                if work is not None:
                    answer = work(body)
                elif call.endpoint == "login":
                    answer = self.login(body, call.client, call.client_certificate)
                elif call.endpoint == "logout":
                    answer = self.logout(body)
                else:
                    answer = self.envelope(body, call)
            except Exception as exc:  # a fault of ours, never of the client's input: say so
                logger.exception("request failed")
                answer = _error(HubError("99", "", type(exc).__name__))
        self.spell(answer)
        answer.serialized()
        if not answer.logged:
            try:
                with self.sessions() as db:
                    begin_sqlite_write(db.connection())
                    row = self._log_row(call, answer, body)
                    db.add(row)
                    if answer.verification is not None:  # a refused signature: why, kept
                        keep(db, row, answer.verification, answer.signature)
                    db.commit()
            except Exception:  # the answer still goes out; the operator sees why in the log
                logger.exception("message log row not written")
        return answer

    def spell(self, answer: Answer) -> None:
        """Spell success in the answer as its account (or else the hub's setting) asks, once,
        before it is serialized and logged: the log keeps the bytes that were sent."""
        if answer.payload is None:
            spell_success(answer.body, answer.success_code or self.settings.success_code)

    def envelope(self, body: bytes, call: Call | None = None) -> Answer:
        value, problem, scan_strings = loads(body)
        if problem is not None:
            return _error(HubError("10", problem.vi, problem.en))
        if not isinstance(value, dict):
            return _error(
                HubError(
                    "12", "gói tin phải là một đối tượng JSON", "the envelope must be a JSON object"
                )
            )
        return self.run_envelope(value, call, body, scan_strings)

    def run_envelope(
        self,
        value: dict[str, Any],
        call: Call | None = None,
        raw_body: bytes | None = None,
        scan_strings: bool = True,
        shape: Callable[[Answer], None] | None = None,
    ) -> Answer:
        """The pipeline of every front door, from an envelope on: its checks, session,
        authorization, the service (validation, store) and the answer.

        ``raw_body`` is the request as received (kept as evidence); ``scan_strings``: it may
        hold text no column can store (:func:`loads`). ``shape`` turns the hub's answer into
        the front door's, in place, before the answer is logged.
        """
        # lone surrogates or NULs (neither can be stored) are reported per field when present
        _SCAN_STRINGS.set(scan_strings)
        answer, shaped = self._pipeline(value, call, raw_body, scan_strings, shape)
        if shape is not None and not shaped:
            shape(answer)
        return answer

    def served(self, service: object) -> ServiceCall:
        """The handler of ``service``, or HubError 13 (unknown to the catalog, or not served)."""
        if not isinstance(service, str) or service not in self.validator.catalog.packets:
            raise HubError("13", str(service)[:64], str(service)[:64])
        handler = self.handlers.get(service)
        if handler is None:
            raise HubError(
                "13",
                f"{service}: chưa hỗ trợ trong phiên bản này",
                f"{service}: not served by this version yet",
            )
        return handler

    def _pipeline(
        self,
        value: dict[str, Any],
        call: Call | None,
        body: bytes | None,
        scan_strings: bool,
        shape: Callable[[Answer], None] | None,
    ) -> tuple[Answer, bool]:
        missing = [key for key in ("session", "madonvi", "service") if value.get(key) in (None, "")]
        service = value.get("service")
        if scan_strings:
            # the envelope's own fields name columns and queries: a NUL or a lone surrogate
            # there cannot be stored or looked up (records are reported per field instead)
            bad = unstorable_text(value, skip=_RECORD_KEYS)
            if bad is not None:
                bad_text = HubError("12", f"{bad}: ký tự không hợp lệ", f"{bad}: invalid character")
                return _error(bad_text), False
        context: dict[str, Any] = {
            "service": service if isinstance(service, str) else None,
            "unit": value.get("madonvi") if isinstance(value.get("madonvi"), str) else None,
        }
        if missing:
            return _error(HubError("12", ", ".join(missing), ", ".join(missing)), **context), False
        malformed = [key for key in ("madonvi", "service") if not isinstance(value[key], str)]
        if malformed:  # a list or object there names nothing (and may be nested deep)
            text = ", ".join(malformed)
            return _error(HubError("12", f"{text}: phải là chuỗi", f"{text}: not a string")), False
        try:
            handler = self.served(service)
        except HubError as error:
            return _error(error, **context), False
        assert isinstance(service, str)
        records = value.get("data")
        limit = self.settings.max_records_per_envelope
        if isinstance(records, list) and len(records) > limit:
            # refused before any per-record work: the work of a call is bounded by the limit
            too_many = HubError(
                "16",
                f"{len(records)} bản ghi, tối đa {limit}",
                f"{len(records)} records, at most {limit}",
            )
            return _error(too_many, **context), False
        with self.sessions() as db:
            # every call writes (its message-log row at least): a writer from the start
            begin_sqlite_write(db.connection())
            try:
                certificate = call.client_certificate if call is not None else None
                principal = principal_for(db, value.get("session"), certificate)
                context["account"] = principal.username
                _STRICT.set(principal.strict)
                if not principal.may_use(service):
                    raise HubError("31", service, service)
                unit = value.get("madonvi")
                if not isinstance(unit, str) or not principal.may_act_for(unit):
                    raise HubError("30", str(unit)[:40], str(unit)[:40])
                if self.validator.catalog.packets[service].kind is PacketKind.PUSH:
                    self._refuse_unless_stamped()
                # verified over the exact bytes before anything is stored
                mode = self.signatures.mode_for(principal.signature_mode, service)
                checked = self.signatures.check(
                    call.signature if call is not None else None, body, unit, mode
                )
                answer = handler(db, principal, value)
                answer.service, answer.account = service, principal.username
                answer.unit = context["unit"]
                answer.secret = value.get("session")
                answer.success_code = principal.success_code
                self.spell(answer)
                if shape is not None:
                    shape(answer)
                self._sign_receipt(answer, body, call)
                if call is not None:
                    answer.serialized()
                    row = self._log_row(call, answer, body)
                    db.add(row)
                    kept = (
                        keep(db, row, checked.verification, checked.signature)
                        if checked is not None
                        else None
                    )
                    if self.settings.evidence:
                        self._keep_evidence(db, row, answer, value, body, call, checked, kept)
                    answer.logged = True
                db.commit()
            except HubError as error:
                db.rollback()
                refused = _error(error, **context)
                if error.answer.code == EVIDENCE_UNSTAMPED:
                    wait = max(1, math.ceil(self.settings.timestamp_interval))
                    refused.headers = {"Retry-After": str(wait)}
                if isinstance(error, SignatureRefused):
                    refused.verification, refused.signature = error.verification, error.signature
                return refused, False
        return answer, True

    def _refuse_unless_stamped(self) -> None:
        """HubError 60 while the evidence chain has gone unstamped past the fail-closed window
        (a cached figure: no query per push): nothing of the push is stored."""
        age = self.stamper.fail_closed()
        if age is not None:
            hours = age.total_seconds() / 3600
            raise HubError(
                EVIDENCE_UNSTAMPED,
                f"mục cũ nhất chưa có dấu thời gian đã {hours:.2f} giờ",
                f"the oldest entry without a time-stamp is {hours:.2f} hours old",
            )

    def _keep_evidence(
        self,
        db: Session,
        row: MessageLog,
        answer: Answer,
        envelope: dict[str, Any],
        body: bytes | None,
        call: Call,
        checked: Checked | None,
        kept: KeptVerification | None,
    ) -> None:
        """The call's evidence entry, in the call's transaction: the exact request bytes (the
        session token in them included: the signature covers them, and the token expires),
        the signature, its verification and the receipt (docs/evidence.md)."""
        if row.id is None:
            db.flush()
        EvidenceLog.append(
            db,
            side="hub",
            kind="push" if isinstance(answer.body.get("records"), list) else "share",
            at=call.received_at or _utcnow(),
            log_id=row.id,
            service=answer.service,
            origin_unit=_column(answer.unit, 40),
            origin_account=_column(answer.account, 128),
            destination=_column(call.dstcode, 255) or "hub",
            body=body or b"",
            signature=checked.signature if checked is not None else None,
            signature_format=checked.verification.format if checked is not None else None,
            verification=checked.verification if checked is not None else None,
            kept=kept,
            receipt=answer.receipt,
            receipt_signature=answer.receipt_signature,
            keys=record_keys(answer.service, envelope),
        )

    def _sign_receipt(self, answer: Answer, body: bytes | None, call: Call | None) -> None:
        """Put the hub's signed receipt on a push answer (one with per-record ``records``),
        once the answer is final and before it is logged: docs/security.md, "Receipts"."""
        if (
            self.receipts is None
            or body is None
            or not isinstance(answer.body.get("records"), list)
        ):
            return
        receipt = self.receipts.receipt(
            service=answer.service,
            unit=answer.unit,
            account=answer.account,
            request=body,
            received_at=(call.received_at if call is not None else None) or _utcnow(),
            body=answer.body,
        )
        try:
            issued = self.receipts.issue(receipt)
        except ReceiptKeyBlocked:
            return  # logged at each check, shown in /metrics and /healthz: the push still counts
        answer.receipt, answer.receipt_signature = issued.receipt, issued.signature
        answer.headers = {**(answer.headers or {}), **issued.headers}

    # -- services ---------------------------------------------------------------------------------

    def _push_answer(
        self,
        outcomes: list[dossiers.Outcome],
        envelope_issues: list[dict[str, Any]],
        result: EnvelopeResult | None = None,
    ) -> Answer:
        if result is not None:  # a record taken despite warnings says what they were
            warned = {r.index: r.issues for r in result.records if r.issues}
            for outcome in outcomes if warned else ():
                found = warned.get(outcome.index)
                if found and outcome.status != "rejected" and not outcome.issues:
                    outcome.issues = [issue.as_dict() for issue in found if not issue.is_error]
        refused = [o for o in outcomes if o.status in ("rejected", "exists")]
        taken = len(outcomes) - len(refused)
        if not refused:
            code = "00"
        elif all(o.status == "exists" for o in refused):
            code = "3"
        elif taken == 0:
            code = "15"
        else:
            code = "01"
        entry = ANSWER_CODES[code]
        body = {
            "error_code": code,
            "message": entry.vi,
            "message_en": entry.en,
            "records": bounded_outcomes(outcomes),
        }
        if envelope_issues:
            body["issues"] = envelope_issues[:ISSUES_PER_RECORD]
        return Answer(
            200,
            body,
            records=len(outcomes),
            accepted=taken,
            rejected=len(refused),
            keep_body=taken > 0,
        )

    def _validate_push(self, envelope: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
        validator = self.strict_validator if _STRICT.get() else self.validator
        result = validator.validate_envelope(envelope, scan_unicode=_SCAN_STRINGS.get())
        errors = [issue for issue in result.issues if issue.is_error]
        if errors:
            raise HubError(
                "15",
                "; ".join(f"{i.path}: {i.vi}" for i in errors[:5]),
                "; ".join(f"{i.path}: {i.en}" for i in errors[:5]),
            )
        return result, [issue.as_dict() for issue in result.issues]

    def _sync_dossiers(self, db: Session, principal: Principal, envelope: dict[str, Any]) -> Answer:
        result, notes = self._validate_push(envelope)
        updating = str(envelope.get("isUpdating")).lower() in ("true", "1")
        outcomes = dossiers.sync_dossiers(db, principal, str(envelope["madonvi"]), updating, result)
        return self._push_answer(outcomes, notes, result)

    def _sync_progress(self, db: Session, principal: Principal, envelope: dict[str, Any]) -> Answer:
        result, notes = self._validate_push(envelope)
        return self._push_answer(dossiers.sync_progress(db, principal, result), notes, result)

    def _lookup(self, db: Session, principal: Principal, envelope: dict[str, Any]) -> Answer:
        code = envelope.get("mahoso")
        if not isinstance(code, str) or not code:
            raise HubError("12", "mahoso", "mahoso")
        errors = [
            i
            for i in self.validator.validate_envelope(envelope, scan_unicode=False).issues
            if i.is_error
        ]
        if errors:
            raise HubError(
                "15", f"{errors[0].path}: {errors[0].vi}", f"{errors[0].path}: {errors[0].en}"
            )
        return _ok({"result": dossiers.lookup(db, principal, code)})

    def _sync_reports(self, db: Session, principal: Principal, envelope: dict[str, Any]) -> Answer:
        result, notes = self._validate_push(envelope)
        kind, unit = str(envelope["service"]), str(envelope["madonvi"])
        return self._push_answer(
            reports.sync_reports(db, principal, kind, unit, result), notes, result
        )

    def _reconcile(self, db: Session, principal: Principal, envelope: dict[str, Any]) -> Answer:
        """DoiSoatThongKeHoSo (lienthong): reported statistics beside the hub's own figures."""
        params = self.validator.validate_envelope(envelope, scan_unicode=False)
        errors = [issue for issue in params.issues if issue.is_error]
        if errors:
            raise HubError(
                "15", f"{errors[0].path}: {errors[0].vi}", f"{errors[0].path}: {errors[0].en}"
            )
        year, month = int(envelope["Nam"]), int(envelope["Thang"])
        if not 1 <= month <= 12:
            raise HubError("15", "Thang 1-12", "Thang must be 1-12")
        reported, gaps = reports.reconcile_statistics(db, str(envelope["madonvi"]), year, month)
        rows = [
            {
                "TruongThongTin": gap.field,
                "SoLieuBaoCao": gap.reported or "",
                "SoLieuTinhToan": gap.computed,
                "ChenhLech": "True" if gap.differs else "False",
            }
            for gap in gaps
        ]
        return _ok({"result": rows, "DaBaoCao": "True" if reported is not None else "False"})

    def _share(self, db: Session, principal: Principal, envelope: dict[str, Any]) -> Answer:
        """Procedure catalog and category lists, from the reference tables."""
        service = str(envelope["service"])
        if service in ("LayThuTuc", "LayQDCB"):
            param = "maTTHC" if service == "LayThuTuc" else "idQDCB"
            key = envelope.get(param)
            if not isinstance(key, (str, int)) or key == "":
                raise HubError("12", param, param)
            kind = reference.PROCEDURES if service == "LayThuTuc" else reference.DECISIONS
            return _ok({"result": reference.rows(db, kind, [str(key)])})
        if service == "LayDanhSachTTHC":
            return _ok({"result": reference.procedure_list(db)})
        return _ok({"result": reference.rows(db, service)})

    def _sync_petitions(
        self, db: Session, principal: Principal, envelope: dict[str, Any]
    ) -> Answer:
        result, notes = self._validate_push(envelope)
        return self._push_answer(petitions.sync_local(db, principal, result), notes, result)

    def _sync_petition_answers(
        self, db: Session, principal: Principal, envelope: dict[str, Any]
    ) -> Answer:
        result, notes = self._validate_push(envelope)
        return self._push_answer(petitions.sync_answers(db, principal, result), notes, result)

    def _petitions(self, db: Session, principal: Principal, envelope: dict[str, Any]) -> Answer:
        """DanhSachPAKNChoXuLy, LayTaiLieuPAKN, DanhSachPAKNCongKhai."""
        service = str(envelope["service"])
        if service == "LayTaiLieuPAKN" and envelope.get("PAKNID") in (None, ""):
            raise HubError("12", "PAKNID", "PAKNID")
        petitions.check_params(self.validator, envelope)
        if service == "LayTaiLieuPAKN":
            return _ok({"result": petitions.documents(db, principal, str(envelope["PAKNID"]))})
        if service == "DanhSachPAKNChoXuLy":
            return _ok({"result": petitions.pending(db, str(envelope["madonvi"]), envelope)})
        return _ok({"result": petitions.public(db, envelope)})

    def _sync_questions(
        self, db: Session, principal: Principal, envelope: dict[str, Any]
    ) -> Answer:
        result, notes = self._validate_push(envelope)
        unit = str(envelope["madonvi"])
        return self._push_answer(
            questions.sync_questions(db, principal, unit, result), notes, result
        )

    def _sync_question_answers(
        self, db: Session, principal: Principal, envelope: dict[str, Any]
    ) -> Answer:
        result, notes = self._validate_push(envelope)
        return self._push_answer(questions.sync_answers(db, principal, result), notes, result)

    def _questions(self, db: Session, principal: Principal, envelope: dict[str, Any]) -> Answer:
        """LayDanhSachHoiDapGuiTuDVCQG, LayDanhSachHoiDapBoCoQuan."""
        petitions.check_params(self.validator, envelope)
        if envelope["service"] == "LayDanhSachHoiDapGuiTuDVCQG":
            return _ok({"result": questions.pending(db, str(envelope["madonvi"]), envelope)})
        return _ok({"result": questions.ministry_sets(db, envelope)})

    # -- message log -----------------------------------------------------------------------------

    def log(
        self,
        *,
        endpoint: str,
        client: str,
        dstcode: str | None,
        request_bytes: int,
        answer: Answer,
        response_bytes: int,
        duration_ms: float,
        raw_body: bytes | None,
    ) -> None:
        """Record one request and its answer in the message log, in a transaction of its own."""
        call = Call(endpoint, client, dstcode, request_bytes, time.perf_counter())
        row = self._log_row(call, answer, raw_body)
        row.response_bytes = min(max(response_bytes, 0), MAX_COUNTED_BYTES)
        row.duration_ms = duration_ms
        try:
            with self.sessions() as db:
                begin_sqlite_write(db.connection())
                db.add(row)
                db.commit()
        except Exception:  # the page or answer still goes out; the operator sees why
            logger.exception("message log row not written")

    def _log_row(self, call: Call, answer: Answer, raw_body: bytes | None) -> MessageLog:
        keep = raw_body if (answer.keep_body and self.settings.keep_raw_bodies) else None
        if keep is not None and answer.secret:
            keep = redacted(keep, answer.secret)
        return MessageLog(
            at=_utcnow(),
            endpoint=call.endpoint,
            service=_column(answer.service, 64),
            account=_column(answer.account, 128),
            unit=_column(answer.unit, 40),
            client=_column(call.client, 64),
            dstcode=_column(call.dstcode, 128),
            request_bytes=min(max(call.request_bytes, 0), MAX_COUNTED_BYTES),
            response_bytes=min(len(answer.serialized()), MAX_COUNTED_BYTES),
            duration_ms=(time.perf_counter() - call.started) * 1000,
            http_status=answer.status,
            error_code=(answer.log_code or str(answer.body.get("error_code", "")))[:8],
            records=answer.records,
            accepted=answer.accepted,
            rejected=answer.rejected,
            raw_body=None if keep is None else self.sealer.seal(keep, RAW_BODY),
            receipt=answer.receipt,
            receipt_signature=answer.receipt_signature,
        )


ServiceHandler = Callable[[Hub, Session, Principal, dict[str, Any]], Answer]

#: The services this version answers, each with its handler; a catalog's other services get 13.
_HANDLERS: dict[str, ServiceHandler] = {
    "DongBoHoSoMC": Hub._sync_dossiers,
    "CapNhatTienDoHoSoMC": Hub._sync_progress,
    "TraCuuHoSo": Hub._lookup,
    "LayThuTuc": Hub._share,
    "LayDanhSachTTHC": Hub._share,
    "LayQDCB": Hub._share,
    "DongBoDanhGia": Hub._sync_reports,
    "DongBoThongKeHoSo": Hub._sync_reports,
    "DoiSoatThongKeHoSo": Hub._reconcile,
    "DongBoPAKNDiaPhuong": Hub._sync_petitions,
    "DanhSachPAKNChoXuLy": Hub._petitions,
    "DongBoKetQuaXuLyPAKN": Hub._sync_petition_answers,
    "LayTaiLieuPAKN": Hub._petitions,
    "DanhSachPAKNCongKhai": Hub._petitions,
    "DongBoHoiDap": Hub._sync_questions,
    "LayDanhSachHoiDapGuiTuDVCQG": Hub._questions,
    "DongBoKetQuaHoiDapGuiTuDVCQG": Hub._sync_question_answers,
    "LayDanhSachHoiDapBoCoQuan": Hub._questions,
}


def service_handlers(catalog: Catalog) -> dict[str, ServiceHandler]:
    """The handler of every service of ``catalog`` this version serves: the fixed ones, and
    every category list (``LayDanhMuc*``) the catalog has, from the reference tables."""
    handlers = dict(_HANDLERS)
    for name in catalog.packets:
        if name.startswith("LayDanhMuc"):
            handlers[name] = Hub._share
    return handlers


#: The answer code of a push refused while the evidence chain lacks its time-stamp.
EVIDENCE_UNSTAMPED = "60"

#: Records whose issues an answer lists in full; later records list each issue by path and code.
DETAILED_RECORDS = 10
#: Issues listed per record at most; ``issues_omitted`` counts the rest.
ISSUES_PER_RECORD = 20


def bounded_outcomes(outcomes: list[dossiers.Outcome]) -> list[dict[str, Any]]:
    """Every record's outcome, in a size bounded per record.

    The first :data:`DETAILED_RECORDS` records carry their issues whole (path, code, severity,
    messages); later records carry each issue as its path and code only, the messages being
    those of the same code earlier in the answer. Each record lists at most
    :data:`ISSUES_PER_RECORD` issues and counts the rest in ``issues_omitted``. So a batch of
    broken records costs a few hundred bytes of answer per record, not kilobytes.
    """
    listed: list[dict[str, Any]] = []
    for position, outcome in enumerate(outcomes):
        row = outcome.as_dict()
        issues = row.get("issues")
        if issues:
            if len(issues) > ISSUES_PER_RECORD:
                row["issues_omitted"] = len(issues) - ISSUES_PER_RECORD
                issues = issues[:ISSUES_PER_RECORD]
            if position >= DETAILED_RECORDS:
                issues = [{"path": i["path"], "code": i["code"]} for i in issues]
            row["issues"] = issues
        listed.append(row)
    return listed


def redacted(body: bytes, token: str) -> bytes:
    """``body`` with the session token gone, in every spelling JSON allows.

    The plain spelling is replaced in place, which keeps the bytes as sent everywhere else;
    when a spelling with escapes is left (found by reading the result back), the kept copy is
    the body re-serialized with every string holding the token redacted.
    """
    kept = body.replace(token.encode("utf-8", "surrogatepass"), b"***")
    value, problem, _ = loads(kept)
    if problem is None and not _mentions(value, token):
        return kept
    if problem is not None:
        # the replacement cut into an escape: "\u0031" + the rest of a token starting with
        # "1" holds the token itself; redact the body as read instead
        value, problem, _ = loads(body)
        if problem is not None:  # never kept: only accepted (readable) bodies are
            return b""
    return json.dumps(_without(value, token), ensure_ascii=True).encode("ascii")


def _mentions(value: Any, token: str) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if token in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _without(value: Any, token: str) -> Any:
    if isinstance(value, str):
        return value.replace(token, "***")
    if isinstance(value, dict):
        return {_without(k, token): _without(v, token) for k, v in value.items()}
    if isinstance(value, list):
        return [_without(item, token) for item in value]
    return value


#: Top-level keys of an envelope that hold records, scanned per field by the validator.
_RECORD_KEYS = frozenset({"data"})


def _column(text: str | None, size: int) -> str | None:
    """``text`` as a message-log column can hold it: escaped where it has characters no column
    stores (NUL, lone surrogates), cut to ``size``; None for nothing."""
    if not text:
        return None
    text = text[:size]
    if not storable(text):
        text = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:size]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: The content types of a JSON body (none given counts as JSON).
JSON_TYPES = frozenset({"application/json", "text/json", ""})


async def received(
    request: Request,
    kind: str,
    settings: HubSettings,
    content_types: frozenset[str] | None = JSON_TYPES,
) -> tuple[Call, bytes | None, Answer | None]:
    """A request's call (for the message log), its body (None: over the size limit) and the
    answer already decided before the body is looked at: 14 (too large), 11 (a content type
    outside ``content_types``; None takes any)."""
    started, arrived = time.perf_counter(), _utcnow()
    client = request.client.host if request.client else "?"
    content_type = (
        request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    )
    body = await read_limited_body(request, settings.max_body_bytes)
    early = None
    if body is None:
        limit = settings.max_body_bytes
        early = _error(HubError("14", f"tối đa {limit} byte", f"at most {limit} bytes"))
    elif content_types is not None and content_type not in content_types:
        early = _error(HubError("11", content_type[:64], content_type[:64]))
    call = Call(
        endpoint=kind,
        client=client,
        dstcode=request.headers.get("dstcode"),
        request_bytes=len(body) if body is not None else declared_length(request),
        started=started,
        signature=request.headers.get(SIGNATURE_HEADER),
        client_certificate=_fingerprint(client_certificate(request.scope)),
        received_at=arrived,
    )
    return call, body, early


def _fingerprint(certificate: str | None) -> str | None:
    return certificate_fingerprint(certificate.encode("ascii")) if certificate else None


def create_app(settings: HubSettings | None = None, hub: Hub | None = None) -> Starlette:
    settings = settings or HubSettings.from_env()
    state = hub or Hub(settings)
    # A 1000-record batch allocates tens of thousands of short-lived containers: keep the start-up
    # objects out of every collection and collect the young generation less often.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)

    def endpoint(kind: str) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            call, body, early = await received(request, kind, settings)
            answer = await anyio.to_thread.run_sync(state.handle, call, body, early)
            return _json(answer)

        return handle

    routes = [
        Route(settings.login_path, endpoint("login"), methods=["POST"]),
        Route(settings.logout_path, endpoint("logout"), methods=["POST"]),
        Route(settings.integration_path, endpoint("integration"), methods=["POST"]),
        Route(settings.share_path, endpoint("share"), methods=["POST"]),
        Route("/healthz", healthz(state), methods=["GET"]),
        Route("/metrics", metrics_endpoint(state), methods=["GET"]),
    ]
    routes += web_routes(state)
    from lienthong.hub.lgsp import lgsp_routes  # it builds on this module

    routes += lgsp_routes(state)
    document = serialized(openapi_document(state.validator.catalog, settings, state.handlers))

    async def openapi(request: Request) -> Served:
        return Served(Response(document, media_type="application/json"))

    routes.append(Route(OPENAPI_PATH, logged(state, "web", OPENAPI_PATH, openapi), methods=["GET"]))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # each worker stamps: batches are unique per first entry, so workers never clash
        state.stamper.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(state.stamper.stop)

    app = Starlette(routes=routes, middleware=[Middleware(GuardMiddleware)], lifespan=lifespan)
    app.state.hub = state
    return app

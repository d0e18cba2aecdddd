"""Signed envelopes (`make bench`, section "Signed envelopes"). Issue 12.

The test PKI (``lienthong.security.pki``) with its OCSP responder and CRLs served on loopback
(in a thread of this process, counting the requests they get). A hub process (one uvicorn
worker, a fresh database, the PKI's root as trust anchor) has two accounts of the same unit:
``bench`` (unsigned, the hub's default ``if-present``) and ``bench-signed`` (``required``). The
signed envelopes are signed beforehand as the agent signs them (``EnvelopeSigner``: CAdES over
the exact body, RSA-2048 PSS, the signer's OCSP answer stapled), so the figures are the hub's
cost. Signed and unsigned 1000-record batches alternate (the machine's drift falls on both
alike), then single-dossier pushes alternate. Three runs per database, each on a fresh
database and hub; the report gives each run's ratio and the median of the three.

Agent: the cost of ``EnvelopeSigner.headers(body)`` per 1000-record envelope (hash, CMS, the
signature, the stapled answer), with a file key (RSA-2048 PSS, ECDSA P-256) and with the same
keys in a SoftHSM2 token through PKCS#11.

Run alone: ``python bench/signing.py`` (prints the Markdown section).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import orjson
import uvicorn
from ingest import (
    BATCH,
    UNIT,
    BenchError,
    Rates,
    Unavailable,
    _free_port,
    _post,
    envelope_bytes,
    fresh_database,
    hub_process,
    make_records,
    percentile,
)
from machine import reference_speed
from starlette.types import ASGIApp, Receive, Scope, Send

from lienthong.agent.settings import SigningSettings
from lienthong.agent.signing import EnvelopeSigner
from lienthong.demo import dossier_envelope, dossiers
from lienthong.hub.settings import HubSettings
from lienthong.security.pki import TestPki, create_test_pki
from lienthong.security.services import create_app
from lienthong.security.signers import FileSigner, Pkcs11Signer, Signer
from lienthong.security.softhsm import TokenKey, make_token, softhsm_available
from lienthong.store import Accounts, session_factory
from lienthong.store.db import redact_url

SIGNED_USER = "bench-signed"
UNSIGNED_USER = "bench"
PASSWORD = "bench-password"
RSA_UNIT, EC_UNIT = "000.00.00.H56", "000.00.00.H60"
TOKEN, PIN = "lienthong-bench", "123456"
#: Issue 12: signed ingest at least 90% of the unsigned rate.
SHARE_TARGET = 0.9

R = TypeVar("R")


class Counted:
    """An ASGI app counting the HTTP requests it answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.requests = app, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


@contextlib.contextmanager
def pki_services(pki: TestPki, port: int) -> Iterator[Counted]:
    """The PKI's OCSP responder and CRLs on loopback ``port`` in a thread."""
    counted = Counted(create_app(pki))
    server = uvicorn.Server(
        uvicorn.Config(counted, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise BenchError("the PKI services did not start")
        time.sleep(0.02)
    try:
        yield counted
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def envelope_signer(pki: TestPki, signer: Signer) -> EnvelopeSigner:
    settings = SigningSettings(format="cades", trust_anchors=(str(pki.root.certificate_path),))
    envelope = EnvelopeSigner(settings, signer=signer)
    check = envelope.check()
    if not check.valid:
        raise BenchError(f"the signer's self-check failed: {check.en}")
    return envelope


@dataclass
class Run:
    unsigned: Rates
    signed: Rates
    unsigned_ms: list[float]
    signed_ms: list[float]
    pki_requests: int
    """Requests the PKI services got during the measured pushes."""
    reference_ms: float

    @property
    def share(self) -> float:
        return self.signed.median / self.unsigned.median


@dataclass
class Outcome(Generic[R]):
    """The runs of one database kind, or why there are none."""

    kind: str
    url: str = ""
    runs: list[R] = field(default_factory=list)
    error: str | None = None
    failed: bool = False


def run_per_kind(
    runs: int,
    one: Callable[[str, int], tuple[str, R]],
    described: Callable[[str, int, R], str],
) -> list[Outcome[R]]:
    """``runs`` runs of ``one(kind, number)`` on SQLite, then on PostgreSQL, each said on
    stderr by ``described``; a database out of reach or a failed run ends that kind's runs."""
    outcomes: list[Outcome[R]] = []
    for kind in ("sqlite", "postgresql"):
        outcome: Outcome[R] = Outcome(kind)
        try:
            for number in range(runs):
                url, run = one(kind, number)
                outcome.url = redact_url(url)
                outcome.runs.append(run)
                print(described(kind, number, run), file=sys.stderr)
        except Unavailable as exc:
            outcome.error = str(exc)
        except BenchError as exc:
            outcome.error, outcome.failed = f"benchmark failed: {exc}", True
        outcomes.append(outcome)
    return outcomes


def one_run(
    kind: str,
    workdir: Path,
    tag: str,
    pki: TestPki,
    services: Counted,
    signer: EnvelopeSigner,
    batches: int,
    warmup: int,
    singles: int,
) -> tuple[str, Run]:
    chunks, single_records = make_records(2 * (batches + warmup), 2 * (singles + warmup * 10))
    settings = HubSettings.from_env()
    with fresh_database(kind, workdir, tag) as (url, engine):
        accounts = Accounts(session_factory(engine))
        accounts.add(UNSIGNED_USER, PASSWORD, [UNIT])
        accounts.add(SIGNED_USER, PASSWORD, [UNIT])
        accounts.set_signature_mode(SIGNED_USER, "required")
        engine.dispose()
        hub_settings = {"LIENTHONG_TRUST_ANCHORS": str(pki.root.certificate_path)}
        with (
            hub_process(url, workdir, hub_settings) as (base, _),
            httpx.Client(base_url=base, timeout=120) as client,
        ):
            sessions = {}
            for user in (UNSIGNED_USER, SIGNED_USER):
                login = client.post(
                    settings.login_path, json={"username": user, "password": PASSWORD}
                ).json()
                if login.get("error_code") not in ("00", "0", 0):
                    raise BenchError(f"login refused: {login}")
                sessions[user] = str(login["session"])

            def bodies(
                records: list[list[dict[str, Any]]],
            ) -> list[tuple[bytes, dict[str, str]]]:
                half = len(records) // 2
                pairs = []
                for plain, signed in zip(records[:half], records[half:], strict=True):
                    pairs.append((envelope_bytes(sessions[UNSIGNED_USER], plain), {}))
                    body = envelope_bytes(sessions[SIGNED_USER], signed)
                    pairs.append((body, signer.headers(body)))
                return pairs

            path = settings.integration_path
            batch_bodies = bodies(chunks)
            for body, headers in batch_bodies[: 2 * warmup]:
                _post(client, path, body, BATCH, headers)
            reference = reference_speed(5)
            requests_before = services.requests
            rates: dict[bool, list[float]] = {False: [], True: []}
            for body, headers in batch_bodies[2 * warmup :]:
                rates[bool(headers)].append(BATCH / _post(client, path, body, BATCH, headers))
            single_bodies = bodies([[record] for record in single_records])
            for body, headers in single_bodies[: 2 * warmup * 10]:
                _post(client, path, body, 1, headers)
            latencies: dict[bool, list[float]] = {False: [], True: []}
            for body, headers in single_bodies[2 * warmup * 10 :]:
                latencies[bool(headers)].append(_post(client, path, body, 1, headers) * 1000)
            requests = services.requests - requests_before
    return url, Run(
        Rates(rates[False]),
        Rates(rates[True]),
        latencies[False],
        latencies[True],
        requests,
        reference,
    )


def hub_bench(
    pki: TestPki,
    services: Counted,
    workdir: Path,
    runs: int = 3,
    batches: int = 10,
    warmup: int = 2,
    singles: int = 200,
) -> list[Outcome[Run]]:
    entry = pki.agency(RSA_UNIT)
    signer = envelope_signer(
        pki, FileSigner(entry.private_key(), entry.certificate, pki.chain_of(entry))
    )

    def one(kind: str, number: int) -> tuple[str, Run]:
        return one_run(
            kind, workdir, f"signed{number}", pki, services, signer, batches, warmup, singles
        )

    def described(kind: str, number: int, run: Run) -> str:
        return (
            f"signed ingest [{kind}] run {number + 1}: {run.signed.median:,.0f} against "
            f"{run.unsigned.median:,.0f} records/s unsigned ({run.share:.0%}), "
            f"{run.pki_requests} PKI requests"
        )

    return run_per_kind(runs, one, described)


# -- the agent's signing cost ---------------------------------------------------------------------


@dataclass
class SigningCost:
    name: str
    ms: list[float]


def signing_costs(pki: TestPki, workdir: Path, repeats: int = 30) -> list[SigningCost]:
    """Milliseconds per ``EnvelopeSigner.headers(body)`` of a 1000-record envelope."""
    body = orjson_body()
    kinds = (("RSA-2048 PSS", RSA_UNIT), ("ECDSA P-256", EC_UNIT))

    def file_key(unit: str) -> Signer:
        entry = pki.agency(unit)
        return FileSigner(entry.private_key(), entry.certificate, pki.chain_of(entry))

    def token_key(unit: str) -> Signer:
        # one logged-in session per token at a time (PKCS#11): each is closed after use
        return Pkcs11Signer(
            None, TOKEN, PIN, f"agency-{unit}", chain=pki.chain_of(pki.agency(unit))
        )

    signers: list[tuple[str, Callable[[str], Signer], str]] = [
        (f"file key, {label}", file_key, unit) for label, unit in kinds
    ]
    if softhsm_available():
        keys = [
            TokenKey(f"agency-{unit}", pki.agency(unit).key_path, pki.agency(unit).certificate)
            for _, unit in kinds
        ]
        make_token(workdir / "softhsm", TOKEN, PIN, keys)
        signers += [
            (f"SoftHSM2 token (PKCS#11), {label}", token_key, unit) for label, unit in kinds
        ]
    costs = []
    for name, make, unit in signers:
        signer = make(unit)
        try:
            envelope = envelope_signer(pki, signer)
            for _ in range(3):
                envelope.headers(body)
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                envelope.headers(body)
                timings.append((time.perf_counter() - started) * 1000)
        finally:
            if isinstance(signer, Pkcs11Signer):
                signer.close()
        costs.append(SigningCost(name, timings))
        print(f"signing [{name}]: {statistics.median(timings):.1f} ms", file=sys.stderr)
    if not softhsm_available():
        costs.append(SigningCost("SoftHSM2 token: not measured (softhsm2 not installed)", []))
    return costs


def orjson_body() -> bytes:
    return orjson.dumps(dossier_envelope(dossiers(BATCH)))


@dataclass
class SigningOutcome:
    hub: list[Outcome[Run]] = field(default_factory=list)
    agent: list[SigningCost] = field(default_factory=list)
    error: str | None = None


def signing_bench(runs: int = 3, batches: int = 10, singles: int = 200) -> SigningOutcome:
    outcome = SigningOutcome()
    with tempfile.TemporaryDirectory(prefix="lt-bench-sign-") as tmp:
        workdir = Path(tmp)
        port = _free_port()
        pki = create_test_pki(workdir / "pki", base_url=f"http://127.0.0.1:{port}")
        try:
            with pki_services(pki, port) as services:
                outcome.hub = hub_bench(pki, services, workdir, runs, batches, 2, singles)
                outcome.agent = signing_costs(pki, workdir)
        except BenchError as exc:
            outcome.error = f"benchmark failed: {exc}"
    return outcome


# -- report ---------------------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    return f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f}"


def report_section(outcome: SigningOutcome, runs: int, batches: int, singles: int) -> list[str]:
    lines = [
        "## Signed envelopes: hub verification and agent signing (issue 12)",
        "",
        "The test PKI (`lienthong.security.pki`: root, intermediate, agency certificates with "
        "OCSP and CRL addresses) with its OCSP responder and CRLs served on loopback by the "
        "benchmark process, which counts the requests they get. A hub process (one uvicorn "
        "worker, a fresh database, the PKI's root as `LIENTHONG_TRUST_ANCHORS`, revocation "
        "cache on by default) has two accounts of the same unit: one unsigned (the default "
        "mode `if-present`), one with `required` signatures. The signed envelopes are signed "
        "beforehand as the agent signs them (`EnvelopeSigner`: CAdES-B-B over the exact body, "
        "RSA-2048 PSS, the signer's own OCSP answer stapled), so the figures are the hub's "
        "cost: integrity, the path to the anchor, revocation, unit binding, and keeping the "
        "verification with its log row. Unsigned and signed 1000-record batches alternate "
        f"({batches} of each measured after 2 of each to warm up), then single-dossier pushes "
        f"alternate ({singles} of each). {runs} runs per database, each on a fresh database "
        "and hub process; the median of the runs' medians is the result.",
        "",
    ]
    if outcome.error:
        lines += [f"Not measured: {outcome.error}", ""]
    for hub in outcome.hub:
        title = "SQLite" if hub.kind == "sqlite" else "PostgreSQL"
        lines += [f"### {title}", ""]
        if hub.error or not hub.runs:
            lines += [f"Not measured: {hub.error}", ""]
            continue
        share = statistics.median(run.share for run in hub.runs)
        lines += [
            "| run | reference speed (ms) | unsigned records/s | signed records/s | signed / "
            "unsigned | single push p50 / p99 (ms), unsigned | signed | PKI requests |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for number, run in enumerate(hub.runs, start=1):
            lines.append(
                f"| {number} | {run.reference_ms:.1f} | {run.unsigned.median:,.0f} "
                f"| {run.signed.median:,.0f} | {run.share:.0%} | {_ms(run.unsigned_ms)} "
                f"| {_ms(run.signed_ms)} | {run.pki_requests} |"
            )
        p50 = statistics.median(percentile(run.signed_ms, 50) for run in hub.runs)
        p50_plain = statistics.median(percentile(run.unsigned_ms, 50) for run in hub.runs)
        p99 = statistics.median(percentile(run.signed_ms, 99) for run in hub.runs)
        p99_plain = statistics.median(percentile(run.unsigned_ms, 99) for run in hub.runs)
        verdict = "met" if share >= SHARE_TARGET else "**not met**"
        lines += [
            f"| **median** | | {statistics.median(r.unsigned.median for r in hub.runs):,.0f} "
            f"| {statistics.median(r.signed.median for r in hub.runs):,.0f} | **{share:.0%}** "
            f"| {p50_plain:.1f} / {p99_plain:.1f} | {p50:.1f} / {p99:.1f} | |",
            "",
            f"Signed ingest at {share:.0%} of the unsigned rate: target (issue 12) >= "
            f"{SHARE_TARGET:.0%}, {verdict}. A signed single push takes {p50 - p50_plain:+.1f} ms "
            f"at the median ({p50 / p50_plain:.2f}x), {p99 - p99_plain:+.1f} ms at p99.",
            "",
        ]
    if outcome.agent:
        lines += [
            "### Agent: signing cost per envelope",
            "",
            "`EnvelopeSigner.headers(body)` for a 1000-record envelope (about 960 KiB): the "
            "SHA-256 of the body, the CMS with its signed attributes, the signature, the "
            "stapled OCSP answer (the self-check is done once before). SoftHSM2 is a software "
            "token: a USB token signs in tens to hundreds of milliseconds.",
            "",
            "| key | median ms per envelope | p90 |",
            "|---|---|---|",
        ]
        for cost in outcome.agent:
            if not cost.ms:
                lines.append(f"| {cost.name} | | |")
                continue
            lines.append(
                f"| {cost.name} | {statistics.median(cost.ms):.1f} | {percentile(cost.ms, 90):.1f} |"
            )
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--singles", type=int, default=200)
    args = parser.parse_args()
    outcome = signing_bench(args.runs, args.batches, args.singles)
    print("\n".join(report_section(outcome, args.runs, args.batches, args.singles)))


if __name__ == "__main__":
    main()

"""The evidence store's cost (`make bench`, section "Evidence"). Issue 13.

Ingest: two hub processes side by side, each on a fresh database of the same kind, both
verifying required signatures (the test PKI's root as anchor, its OCSP responder and TSA served
by this process): one with the evidence store on (every envelope's exact bytes, signature,
verification and receipt appended to the hash chain in the push's transaction) and its
time-stamper asking the TSA for one stamp per Merkle batch every second; one with
``LIENTHONG_EVIDENCE=0``. Both sign receipts. Signed 1000-record batches alternate between the
two (the machine's drift falls on both alike). Three runs per database; the report gives each
run's ratio and the median of the three. The target (issue 13): at least 85% of the rate
without the store.

Run alone: ``python bench/evidence.py`` (prints the Markdown section).
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from ingest import (
    BATCH,
    UNIT,
    BenchError,
    Rates,
    _free_port,
    _post,
    dossier_rows,
    envelope_bytes,
    fresh_database,
    hub_process,
    make_records,
)
from machine import reference_speed
from signing import PASSWORD, RSA_UNIT, Outcome, envelope_signer, pki_services, run_per_kind
from sqlalchemy import Engine, func, insert, select

from lienthong.agent.signing import EnvelopeSigner
from lienthong.backup import KeyFile, create_backup, restore_backup
from lienthong.evidence.export import Selection, export_container
from lienthong.evidence.offline import verify_container
from lienthong.evidence.store import EvidenceLog
from lienthong.hub.settings import HubSettings
from lienthong.security.pki import TestPki, create_test_pki
from lienthong.security.signers import FileSigner
from lienthong.store import Accounts, session_factory
from lienthong.store.db import make_engine, upgrade
from lienthong.store.tables import Dossier, EvidenceBatch, EvidenceEntry

USER = "bench-signed"
#: Issue 13: ingest with the evidence store and time-stamping on at least 85% of the rate
#: without it.
SHARE_TARGET = 0.85
#: Stores backed up and restored (SQLite), from which the time per million is extrapolated.
BACKUP_SIZES = (25_000, 100_000)


@dataclass
class IngestRun:
    without: Rates
    with_evidence: Rates
    entries: int
    batches: int
    reference_ms: float
    #: Milliseconds to export one dossier's container (from the evidence tables, signed by the
    #: hub's key) and to verify it offline; the container's size in bytes.
    export_ms: list[float] = field(default_factory=list)
    verify_ms: list[float] = field(default_factory=list)
    container_bytes: int = 0

    @property
    def share(self) -> float:
        return self.with_evidence.median / self.without.median


def _login(client: httpx.Client, settings: HubSettings) -> str:
    login = client.post(settings.login_path, json={"username": USER, "password": PASSWORD}).json()
    if login.get("error_code") not in ("00", "0", 0):
        raise BenchError(f"login refused: {login}")
    return str(login["session"])


def one_ingest_run(
    kind: str, workdir: Path, tag: str, pki: TestPki, signer: EnvelopeSigner, batches: int
) -> tuple[str, IngestRun]:
    warmup = 2
    chunks, _ = make_records(2 * (batches + warmup), 0)
    settings = HubSettings.from_env()
    certificate = workdir / "receipt-chain.pem"
    certificate.write_bytes(pki.hub.certificate_path.read_bytes() + pki.chain_path.read_bytes())
    common = {
        "LIENTHONG_TRUST_ANCHORS": str(pki.root.certificate_path),
        "LIENTHONG_RECEIPT_CERT_FILE": str(certificate),
        "LIENTHONG_RECEIPT_KEY_FILE": str(pki.hub.key_path),
    }
    variants = {
        True: {
            **common,
            "LIENTHONG_EVIDENCE": "1",
            "LIENTHONG_TSA_URL": pki.tsa_url,
            "LIENTHONG_TIMESTAMP_INTERVAL": "1",
        },
        False: {**common, "LIENTHONG_EVIDENCE": "0"},
    }
    with (
        fresh_database(kind, workdir, f"{tag}on") as (url_on, engine_on),
        fresh_database(kind, workdir, f"{tag}off") as (url_off, engine_off),
    ):
        for engine in (engine_on, engine_off):
            accounts = Accounts(session_factory(engine))
            accounts.add(USER, PASSWORD, [UNIT])
            accounts.set_signature_mode(USER, "required")
            engine.dispose()
        with (
            hub_process(url_on, workdir, variants[True]) as (base_on, _),
            hub_process(url_off, workdir, variants[False]) as (base_off, _),
            httpx.Client(base_url=base_on, timeout=120) as on,
            httpx.Client(base_url=base_off, timeout=120) as off,
        ):
            clients = {True: on, False: off}
            sessions = {flag: _login(client, settings) for flag, client in clients.items()}
            path = settings.integration_path
            pushes: list[tuple[bool, bytes, dict[str, str]]] = []
            for number, records in enumerate(chunks):
                flag = number % 2 == 0
                body = envelope_bytes(sessions[flag], records)
                pushes.append((flag, body, signer.headers(body)))
            for flag, body, headers in pushes[: 2 * warmup]:
                _post(clients[flag], path, body, BATCH, headers)
            reference = reference_speed(5)
            rates: dict[bool, list[float]] = {False: [], True: []}
            for flag, body, headers in pushes[2 * warmup :]:
                rates[flag].append(BATCH / _post(clients[flag], path, body, BATCH, headers))
            time.sleep(2.5)  # the last round of the stamper
        counted = make_engine(url_on)
        try:
            with counted.connect() as connection:
                entries = connection.execute(select(func.count()).select_from(EvidenceEntry))
                stamped = connection.execute(select(func.count()).select_from(EvidenceBatch))
                entry_count, batch_count = int(entries.scalar_one()), int(stamped.scalar_one())
            run = IngestRun(
                Rates(rates[False]), Rates(rates[True]), entry_count, batch_count, reference
            )
            # a dossier of the last measured push to the hub with the store on
            code = str(chunks[-2 if len(chunks) % 2 == 0 else -1][0]["MaHoSo"])
            time_export(counted, code, pki, run)
        finally:
            counted.dispose()
    if entry_count != len(pushes) // 2:
        raise BenchError(f"{entry_count} evidence entries for {len(pushes) // 2} pushes")
    return url_on, run


def time_export(engine: Engine, code: str, pki: TestPki, run: IngestRun, repeats: int = 5) -> None:
    """Export the container of dossier ``code`` (signed with the hub's key) and verify it
    offline (the PKI's root as the only anchor), ``repeats`` times each."""
    signer = FileSigner(pki.hub.private_key(), pki.hub.certificate, pki.chain_of(pki.hub))
    sessions = session_factory(engine)
    for _ in range(repeats):
        started = time.perf_counter()
        with sessions() as db:
            data = export_container(db, Selection(dossier=code), signer=signer)
        run.export_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        report = verify_container(data, [pki.root.certificate])
        run.verify_ms.append((time.perf_counter() - started) * 1000)
        if not report.ok:
            raise BenchError(f"the exported container does not verify: {report.all_failures()}")
        run.container_bytes = len(data)


def ingest_bench(pki: TestPki, workdir: Path, runs: int, batches: int) -> list[Outcome[IngestRun]]:
    entry = pki.agency(RSA_UNIT)
    signer = envelope_signer(
        pki, FileSigner(entry.private_key(), entry.certificate, pki.chain_of(entry))
    )

    def one(kind: str, number: int) -> tuple[str, IngestRun]:
        return one_ingest_run(kind, workdir, f"ev{number}", pki, signer, batches)

    def described(kind: str, number: int, run: IngestRun) -> str:
        return (
            f"evidence ingest [{kind}] run {number + 1}: {run.with_evidence.median:,.0f} "
            f"against {run.without.median:,.0f} records/s without ({run.share:.0%}), "
            f"{run.entries} entries in {run.batches} time-stamped batches"
        )

    return run_per_kind(runs, one, described)


# -- backup and restore ---------------------------------------------------------------------------


@dataclass
class BackupRun:
    dossiers: int
    database_bytes: int
    backup_bytes: int
    create_s: float
    restore_s: float

    def per_million(self, seconds: float) -> float:
        return seconds * 1_000_000 / self.dossiers


def fill_store(engine: Engine, count: int) -> None:
    """``count`` dossiers as the hub stores them (the demo's records, each MaHoSo distinct), and
    per 1000 of them the evidence entry of the envelope that carried them (its exact bytes)."""
    template, _ = make_records(1, 0)
    sessions = session_factory(engine)
    for start in range(0, count, BATCH):
        records = [
            {**record, "MaHoSo": f"{record['MaHoSo']}-{start // BATCH}"}
            for record in template[0][: min(BATCH, count - start)]
        ]
        with sessions() as db:
            db.execute(insert(Dossier), dossier_rows(records))
            EvidenceLog.append(
                db,
                side="hub",
                kind="push",
                at=dt.datetime.now(dt.UTC),
                log_id=start // BATCH + 1,
                service="DongBoHoSoMC",
                origin_unit=UNIT,
                origin_account=USER,
                destination="hub",
                body=envelope_bytes("session", records),
                signature=None,
                signature_format=None,
                verification=None,
                receipt=None,
                receipt_signature=None,
                keys=[str(record["MaHoSo"]) for record in records],
            )
            db.commit()


def backup_bench(pki: TestPki, workdir: Path, sizes: tuple[int, ...]) -> list[BackupRun]:
    """Back up and restore SQLite stores of each size (the hub's key signs, the TSA stamps)."""
    signer = FileSigner(pki.hub.private_key(), pki.hub.certificate, pki.chain_of(pki.hub))
    key = KeyFile(secrets.token_bytes(32))
    runs = []
    for size in sizes:
        folder = workdir / f"backup-{size}"
        folder.mkdir()
        source = folder / "hub.db"
        engine = make_engine(f"sqlite:///{source}")
        try:
            upgrade(engine)
            fill_store(engine, size)
            target = folder / "hub.backup"
            started = time.perf_counter()
            create_backup(target, engine, key, signer, pki.tsa_url)
            create_s = time.perf_counter() - started
        finally:
            engine.dispose()
        started = time.perf_counter()
        restore_backup(target, f"sqlite:///{folder / 'restored.db'}", [pki.root.certificate], key)
        restore_s = time.perf_counter() - started
        run = BackupRun(size, source.stat().st_size, target.stat().st_size, create_s, restore_s)
        runs.append(run)
        print(
            f"backup [sqlite, {size:,} dossiers, {run.database_bytes / 2**20:,.0f} MiB]: "
            f"create {create_s:.1f} s, restore {restore_s:.1f} s",
            file=sys.stderr,
        )
    return runs


@dataclass
class EvidenceOutcome:
    ingest: list[Outcome[IngestRun]] = field(default_factory=list)
    backups: list[BackupRun] = field(default_factory=list)
    error: str | None = None


def evidence_bench(
    runs: int = 3, batches: int = 10, sizes: tuple[int, ...] = BACKUP_SIZES
) -> EvidenceOutcome:
    outcome = EvidenceOutcome()
    with tempfile.TemporaryDirectory(prefix="lt-bench-evidence-") as tmp:
        workdir = Path(tmp)
        port = _free_port()
        pki = create_test_pki(workdir / "pki", base_url=f"http://127.0.0.1:{port}")
        try:
            with pki_services(pki, port):
                outcome.ingest = ingest_bench(pki, workdir, runs, batches)
                outcome.backups = backup_bench(pki, workdir, sizes)
        except BenchError as exc:
            outcome.error = f"benchmark failed: {exc}"
    return outcome


def report_section(outcome: EvidenceOutcome, runs: int, batches: int) -> list[str]:
    lines = [
        "## Evidence store: ingest with the hash chain and batch time-stamps (issue 13)",
        "",
        "Two hub processes side by side (one uvicorn worker each), each on a fresh database of "
        "the same kind, both requiring signed envelopes (the test PKI's root as anchor, its "
        "OCSP responder and TSA served on loopback by the benchmark) and signing receipts: one "
        "with the evidence store on (each envelope's exact bytes, signature, verification, "
        "receipt and record keys appended to the hash chain in the push's transaction; the "
        "time-stamper asking the TSA for one RFC 3161 stamp per Merkle batch every second), "
        "one with `LIENTHONG_EVIDENCE=0`. Signed 1000-record batches alternate between the two "
        f"({batches} to each after 2 to each to warm up); {runs} runs per database; the median "
        "of the runs' ratios is the result.",
        "",
    ]
    if outcome.error:
        lines += [f"Not measured: {outcome.error}", ""]
    for hub in outcome.ingest:
        title = "SQLite" if hub.kind == "sqlite" else "PostgreSQL"
        lines += [f"### {title}", ""]
        if hub.error or not hub.runs:
            lines += [f"Not measured: {hub.error}", ""]
            continue
        share = statistics.median(run.share for run in hub.runs)
        lines += [
            "| run | reference speed (ms) | records/s without | records/s with evidence | "
            "with / without | entries | time-stamped batches |",
            "|---|---|---|---|---|---|---|",
        ]
        for number, run in enumerate(hub.runs, start=1):
            lines.append(
                f"| {number} | {run.reference_ms:.1f} | {run.without.median:,.0f} "
                f"| {run.with_evidence.median:,.0f} | {run.share:.0%} | {run.entries} "
                f"| {run.batches} |"
            )
        verdict = "met" if share >= SHARE_TARGET else "**not met**"
        lines += [
            f"| **median** | | {statistics.median(r.without.median for r in hub.runs):,.0f} "
            f"| {statistics.median(r.with_evidence.median for r in hub.runs):,.0f} "
            f"| **{share:.0%}** | | |",
            "",
            f"Ingest with the evidence store at {share:.0%} of the rate without it: target "
            f"(issue 13) >= {SHARE_TARGET:.0%}, {verdict}.",
            "",
        ]
        timed = [run for run in hub.runs if run.export_ms]
        if timed:
            export = statistics.median(statistics.median(run.export_ms) for run in timed)
            check = statistics.median(statistics.median(run.verify_ms) for run in timed)
            size = statistics.median(run.container_bytes for run in timed)
            lines += [
                f"One dossier's ASiC-E container (the 1000-record message that carried it, its "
                f"CAdES signature, the receipt, certificates, OCSP answers, Merkle path and "
                f"time-stamp; {size / 1024:,.0f} KiB), signed by the hub's key: export "
                f"{export:.0f} ms, offline verification {check:.0f} ms (medians of 5 per run).",
                "",
            ]
    if outcome.backups:
        lines += [
            "### Backup and restore (SQLite)",
            "",
            "Stores of dossiers as the hub keeps them (the demo's records), each 1000 with the "
            "evidence entry of the envelope that carried them (its exact bytes, about 1 MB), "
            "backed up with `create_backup` (SQLite's online backup, AES-256-GCM in 4 MiB "
            "chunks, the manifest signed with the hub's key and time-stamped by the TSA) and "
            "restored with `restore_backup` (verified, decrypted, written to a new file). The "
            "time per million dossiers is extrapolated linearly from each size; the two sizes "
            "show how close to linear it is.",
            "",
            "| dossiers | database (MiB) | backup file (MiB) | create (s) | restore (s) | "
            "create per million (s) | restore per million (s) |",
            "|---|---|---|---|---|---|---|",
        ]
        for run in outcome.backups:
            lines.append(
                f"| {run.dossiers:,} | {run.database_bytes / 2**20:,.0f} "
                f"| {run.backup_bytes / 2**20:,.0f} | {run.create_s:.1f} | {run.restore_s:.1f} "
                f"| {run.per_million(run.create_s):,.0f} | {run.per_million(run.restore_s):,.0f} |"
            )
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument(
        "--backup-sizes", default=",".join(map(str, BACKUP_SIZES)), help="dossiers, comma-separated"
    )
    args = parser.parse_args()
    sizes = tuple(int(size) for size in args.backup_sizes.split(","))
    outcome = evidence_bench(args.runs, args.batches, sizes)
    print("\n".join(report_section(outcome, args.runs, args.batches)))


if __name__ == "__main__":
    main()

"""A bounded, thread-safe cache of revocation answers and validated paths for a verifier that
sees the same certificates again and again (the hub: every push of a province carries the same
chain; docs/security.md, "Revocation cache").

What is kept, and for how long:

- OCSP answers by the certificate they speak of (its issuer and serial number), CRLs by the
  distribution points of the certificates they cover, each until the earliest of its
  ``nextUpdate`` and ``max_age_seconds`` after it was stored. An answer without ``nextUpdate``
  (RFC 6960: newer information is always available) is never kept.
- Validated paths: the chain and the revocation data that validated a signer's certificate, for
  the same certificates, anchors and policy, until the earliest expiry of that data. Only a path
  whose signer was never revoked is kept; a hit is used only for a signing time within every
  certificate's validity and before the data's ``nextUpdate``.

Only what a verification concluded with is kept (:meth:`CachingFetchers.settle`): answers
fetched during a verification that validated the path, or that found the certificate revoked.
A verification left without conclusion (indeterminate) stores nothing and drops the answers it
was served, so the next message fetches afresh. A revocation published after an answer is seen
once that answer's ``nextUpdate`` (or the maximum age) has passed; a revoked answer stays
revoked, since CAs do not unrevoke (no certificate hold in this profile).

Fetching itself stays pyhanko-certvalidator's (:class:`CachingFetchers` wraps its aiohttp
backend): the cache only answers first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import crl as asn1_crl  # type: ignore[import-untyped]
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator.authority import Authority
from pyhanko_certvalidator.fetchers.api import (
    CRLFetcher,
    FetcherBackend,
    Fetchers,
    OCSPFetcher,
)
from pyhanko_certvalidator.fetchers.common_utils import enumerate_delivery_point_urls
from pyhanko_certvalidator.util import get_relevant_crl_dps, issuer_serial

__all__ = ["CacheStats", "CachedPath", "CachingFetchers", "RevocationCache"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CachedPath:
    """A signer's validated path: what a verification at another signing time may reuse."""

    chain: tuple[bytes, ...]
    """The signer's certificate first, then up to the anchor (DER)."""
    revocation: tuple[Any, ...]
    """The :class:`lienthong.security.verify.RevocationData` that validated it."""
    valid_from: datetime
    """The latest notBefore of the path's certificates."""
    valid_until: datetime
    """The earliest of their notAfter and of the revocation data's nextUpdate."""


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the cache was made (shown by the benchmark and the tests)."""

    hits: int
    misses: int
    stored: int
    evicted: int
    entries: int


@dataclass(slots=True)
class _Entry:
    value: Any
    expires_at: datetime


class RevocationCache:
    """Revocation answers and validated paths, bounded in count and age; safe across threads."""

    def __init__(
        self,
        max_entries: int = 10_000,
        max_age_seconds: float = 3600.0,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_entries < 1 or max_age_seconds <= 0:
            raise ValueError("max_entries and max_age_seconds must be positive")
        self.max_entries = max_entries
        self.max_age = timedelta(seconds=max_age_seconds)
        self.clock = clock
        self._entries: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._stored = self._evicted = 0

    # -- the store ---------------------------------------------------------------------------

    def _get(self, key: tuple[str, bytes]) -> Any | None:
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at <= now:
                del self._entries[key]
                self._evicted += 1
                entry = None
            if entry is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry.value

    def _put(self, key: tuple[str, bytes], value: Any, until: datetime | None) -> bool:
        now = self.clock()
        expires = now + self.max_age if until is None else min(until, now + self.max_age)
        if expires <= now:
            return False
        with self._lock:
            self._entries[key] = _Entry(value, expires)
            self._entries.move_to_end(key)
            self._stored += 1
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self._evicted += 1
        return True

    def drop(self, keys: Iterable[tuple[str, bytes]]) -> None:
        with self._lock:
            for key in keys:
                if self._entries.pop(key, None) is not None:
                    self._evicted += 1

    def clear(self) -> None:
        with self._lock:
            self._evicted += len(self._entries)
            self._entries.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                self._hits, self._misses, self._stored, self._evicted, len(self._entries)
            )

    # -- OCSP and CRLs -----------------------------------------------------------------------

    @staticmethod
    def ocsp_key(certificate: asn1_x509.Certificate) -> tuple[str, bytes]:
        return ("ocsp", issuer_serial(certificate))

    @staticmethod
    def crl_key(certificate: asn1_x509.Certificate) -> tuple[str, bytes] | None:
        """The distribution points of a certificate (its CA's CRLs, shared by its siblings)."""
        urls = sorted(
            url
            for point in get_relevant_crl_dps(certificate, use_deltas=True)
            for url in enumerate_delivery_point_urls(point)
        )
        return ("crl", "\n".join(urls).encode("utf-8")) if urls else None

    def ocsp(self, certificate: asn1_x509.Certificate) -> bytes | None:
        found = self._get(self.ocsp_key(certificate))
        return found if isinstance(found, bytes) else None

    def store_ocsp(self, certificate: asn1_x509.Certificate, der: bytes) -> bool:
        """Keep a successful OCSP answer about ``certificate`` until its nextUpdate."""
        until = ocsp_next_update(der, certificate.serial_number)
        return until is not None and self._put(self.ocsp_key(certificate), der, until)

    def crls(self, certificate: asn1_x509.Certificate) -> tuple[bytes, ...] | None:
        key = self.crl_key(certificate)
        found = self._get(key) if key is not None else None
        return found if isinstance(found, tuple) else None

    def store_crls(self, certificate: asn1_x509.Certificate, ders: Sequence[bytes]) -> bool:
        """Keep the CRLs of ``certificate``'s distribution points until the first nextUpdate."""
        key = self.crl_key(certificate)
        updates = [crl_next_update(der) for der in ders]
        if key is None or not ders or any(update is None for update in updates):
            return False
        return self._put(key, tuple(ders), min(u for u in updates if u is not None))

    # -- validated paths ---------------------------------------------------------------------

    def path(self, key: bytes, signing_time: datetime) -> CachedPath | None:
        found = self._get(("path", key))
        if not isinstance(found, CachedPath):
            return None
        if not found.valid_from <= signing_time <= found.valid_until:
            return None
        return found

    def store_path(self, key: bytes, path: CachedPath) -> bool:
        return self._put(("path", key), path, path.valid_until)


def ocsp_serial(der: bytes) -> int | None:
    """The serial number an OCSP response speaks of (its first single response), or None."""
    try:
        basic = asn1_ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
        return int(basic["tbs_response_data"]["responses"][0]["cert_id"]["serial_number"].native)
    except (ValueError, TypeError, KeyError, IndexError):
        return None


def ocsp_next_update(der: bytes, serial: int | None = None) -> datetime | None:
    """The nextUpdate of a successful OCSP answer (about ``serial`` when given), or None."""
    try:
        response = asn1_ocsp.OCSPResponse.load(der)
        if response["response_status"].native != "successful":
            return None
        basic = response.basic_ocsp_response
        for single in basic["tbs_response_data"]["responses"]:
            if serial is not None and single["cert_id"]["serial_number"].native != serial:
                continue
            moment = single["next_update"].native
            return moment if isinstance(moment, datetime) else None
    except (ValueError, TypeError, KeyError):
        return None
    return None


def crl_next_update(der: bytes) -> datetime | None:
    try:
        moment = asn1_crl.CertificateList.load(der)["tbs_cert_list"]["next_update"].native
    except (ValueError, TypeError, KeyError):
        return None
    return moment if isinstance(moment, datetime) else None


def _produced_at(response: asn1_ocsp.OCSPResponse) -> datetime:
    moment = response.basic_ocsp_response["tbs_response_data"]["produced_at"].native
    return moment if isinstance(moment, datetime) else datetime.min.replace(tzinfo=UTC)


def _about(response: asn1_ocsp.OCSPResponse, certificate: asn1_x509.Certificate) -> bool:
    """A stapled answer speaks of ``certificate`` (serial and issuer name hash)."""
    try:
        for single in response.basic_ocsp_response["tbs_response_data"]["responses"]:
            cert_id = single["cert_id"]
            algorithm = cert_id["hash_algorithm"]["algorithm"].native
            if cert_id["serial_number"].native == certificate.serial_number and algorithm in (
                "sha1",
                "sha256",
            ):
                name_hash = getattr(certificate.issuer, algorithm)
                if cert_id["issuer_name_hash"].native == name_hash:
                    return True
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    return False


# -- pyhanko-certvalidator's fetchers, asked after the cache ----------------------------------


class CachingFetchers(FetcherBackend):
    """One verification's fetchers: the cache first, then the signature's own current stapled
    answer, then the network through ``inner`` (pyhanko-certvalidator's aiohttp backend)."""

    def __init__(
        self,
        cache: RevocationCache,
        inner: FetcherBackend,
        stapled_ocsps: Sequence[bytes] = (),
    ) -> None:
        self.cache = cache
        self.inner = inner
        self.stapled = [asn1_ocsp.OCSPResponse.load(der) for der in stapled_ocsps]
        self.served: list[tuple[str, bytes]] = []
        self.fetched_ocsp: list[tuple[asn1_x509.Certificate, bytes]] = []
        self.fetched_crls: list[tuple[asn1_x509.Certificate, tuple[bytes, ...]]] = []
        self.requests = 0
        """Fetches that went to the network."""

    def get_fetchers(self) -> Fetchers:
        inner = self.inner.get_fetchers()
        return Fetchers(
            ocsp_fetcher=_OcspFetcher(self, inner.ocsp_fetcher),
            crl_fetcher=_CrlFetcher(self, inner.crl_fetcher),
            cert_fetcher=inner.cert_fetcher,
        )

    async def close(self) -> None:
        await self.inner.close()  # type: ignore[no-untyped-call]

    def current_stapled(self, certificate: asn1_x509.Certificate) -> list[asn1_ocsp.OCSPResponse]:
        now = self.cache.clock()
        found = []
        for response in self.stapled:
            update = ocsp_next_update(response.dump(), certificate.serial_number)
            if update is not None and update > now and _about(response, certificate):
                found.append(response)
        return found

    def forget(self) -> None:
        """The verification found no conclusion: drop what the cache served it, so that the
        next one fetches afresh."""
        self.cache.drop(self.served)

    def keep(self) -> None:
        """The verification concluded (the path validated, or a certificate was found revoked):
        keep what it fetched."""
        for certificate, der in self.fetched_ocsp:
            self.cache.store_ocsp(certificate, der)
        for certificate, ders in self.fetched_crls:
            self.cache.store_crls(certificate, ders)


class _OcspFetcher(OCSPFetcher):
    def __init__(self, owner: CachingFetchers, inner: OCSPFetcher) -> None:
        self.owner, self.inner = owner, inner
        self.served: list[asn1_ocsp.OCSPResponse] = []

    async def fetch(self, cert: Any, authority: Authority) -> asn1_ocsp.OCSPResponse:
        self.owner.requests += 1
        response = await self.inner.fetch(cert, authority)
        self.owner.fetched_ocsp.append((cert, response.dump()))
        return response

    def fetched_responses(self) -> Iterable[asn1_ocsp.OCSPResponse]:
        return [*self.inner.fetched_responses(), *self.served]

    def fetched_responses_for_cert(self, cert: Any) -> Iterable[asn1_ocsp.OCSPResponse]:
        fetched = list(self.inner.fetched_responses_for_cert(cert))
        if fetched:
            return fetched
        answers = []
        cached = self.owner.cache.ocsp(cert)
        if cached is not None:
            response = asn1_ocsp.OCSPResponse.load(cached)
            self.owner.served.append(RevocationCache.ocsp_key(cert))
            if all(known.dump() != cached for known in self.served):
                self.served.append(response)
            answers.append(response)
        answers += self.owner.current_stapled(cert)
        # the freshest first: pyhanko-certvalidator takes the first answer that settles it
        return sorted(answers, key=_produced_at, reverse=True)


class _CrlFetcher(CRLFetcher):
    def __init__(self, owner: CachingFetchers, inner: CRLFetcher) -> None:
        self.owner, self.inner = owner, inner
        self.served: list[asn1_crl.CertificateList] = []

    async def fetch(
        self, cert: Any, *, use_deltas: Any = None
    ) -> Iterable[asn1_crl.CertificateList]:
        self.owner.requests += 1
        crls = list(await self.inner.fetch(cert, use_deltas=use_deltas))
        self.owner.fetched_crls.append((cert, tuple(c.dump() for c in crls)))
        return crls

    def fetched_crls(self) -> Iterable[asn1_crl.CertificateList]:
        return [*self.inner.fetched_crls(), *self.served]

    def fetched_crls_for_cert(self, cert: Any) -> Iterable[asn1_crl.CertificateList]:
        try:
            return self.inner.fetched_crls_for_cert(cert)
        except KeyError:
            pass
        cached = self.owner.cache.crls(cert)
        if cached is None:
            raise KeyError("not cached")  # pyhanko-certvalidator fetches on KeyError
        key = RevocationCache.crl_key(cert)
        if key is not None:
            self.owner.served.append(key)
        crls = [asn1_crl.CertificateList.load(der) for der in cached]
        known = {item.dump() for item in self.served}
        self.served += [item for item in crls if item.dump() not in known]
        return crls

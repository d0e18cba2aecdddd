"""Who signs: keys in files (development), on PKCS#11 tokens and HSMs, or at a remote service.

Every signer answers the same :class:`Signer` protocol: its certificate, the chain to send with
it, the digest and scheme it signs with, and ``sign(data)`` giving the raw signature of ``data``
(hashed here with ``digest``; RSA as the modulus-sized block, ECDSA as DER, as CMS carries it).
The formats (``cades``, ``jws``) take any signer. Keys and algorithms the
:class:`~lienthong.security.policy.AlgorithmPolicy` refuses are refused when a signer is made,
never at the first signature (Circular 15/2025/TT-BKHCN: RSA >= 2048 bits, ECDSA >= 256 bits,
SHA-2/SHA-3, no Ed25519). docs/security.md, "Signing".
"""

from __future__ import annotations

import abc
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from asn1crypto import algos, core  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import pkcs12

from lienthong.security.policy import AlgorithmPolicy, AlgorithmProblem, key_kind

__all__ = [
    "DEFAULT_PKCS11_MODULE",
    "PKCS11_MODULE_SETTING",
    "SCHEMES",
    "FileSigner",
    "Pkcs11Signer",
    "RemoteSigner",
    "Signer",
    "SignerError",
    "hash_algorithm",
    "open_token_session",
    "pkcs11_module",
]

log = logging.getLogger(__name__)

SCHEMES = ("rsassa_pss", "rsassa_pkcs1v15", "ecdsa")
"""Signature schemes, by asn1crypto's names."""

PKCS11_MODULE_SETTING = "LIENTHONG_PKCS11_MODULE"
"""The setting naming the PKCS#11 library of the token or HSM."""
DEFAULT_PKCS11_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
"""Debian's SoftHSM2, the module used when the setting is absent (tests and development)."""

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha512_224": hashes.SHA512_224,
    "sha512_256": hashes.SHA512_256,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
    "sha3_512": hashes.SHA3_512,
}
#: The digest matching each curve, as JWS's ES256/ES384/ES512 bind them.
_CURVE_DIGESTS = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}


class SignerError(ValueError):
    """A signer that cannot be made or cannot sign, with a stable code and both languages."""

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(f"{vi} / {en}")
        self.code, self.vi, self.en = code, vi, en


@runtime_checkable
class Signer(Protocol):
    """What the formats need of a key: its certificate, chain, digest, scheme and signatures."""

    certificate: x509.Certificate
    """The signer's certificate."""
    chain: tuple[x509.Certificate, ...]
    """Intermediates (the signer excluded, the root optional), sent with every signature."""
    digest: str
    """``sha256``, ``sha384``, ... (asn1crypto's names)."""
    scheme: str
    """``rsassa_pss``, ``rsassa_pkcs1v15`` or ``ecdsa``."""

    def sign(self, data: bytes) -> bytes:
        """The raw signature of ``data``, hashed with ``digest``: RSA as the modulus-sized
        block, ECDSA as DER (``Ecdsa-Sig-Value``)."""
        ...


def hash_algorithm(digest: str) -> hashes.HashAlgorithm:
    """cryptography's hash for an allowed digest name."""
    try:
        return _HASHES[digest]()
    except KeyError:
        raise AlgorithmProblem(
            f"thuật toán băm {digest} không được hỗ trợ để ký",
            f"digest algorithm {digest} is not supported for signing",
        ) from None


def pkcs11_module(module: str | None = None) -> str:
    """The PKCS#11 library: ``module``, else the setting, else SoftHSM2's default path."""
    return module or os.environ.get(PKCS11_MODULE_SETTING) or DEFAULT_PKCS11_MODULE


class _PolicySigner(abc.ABC):
    """What every signer shares: the policy check at construction and hashing before signing."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    digest: str
    scheme: str

    def __init__(
        self,
        certificate: x509.Certificate,
        chain: Iterable[x509.Certificate],
        *,
        digest: str | None,
        scheme: str | None,
        policy: AlgorithmPolicy,
    ) -> None:
        public_key = certificate.public_key()
        kind, bits = key_kind(public_key)
        policy.check_key(kind, bits)
        if isinstance(public_key, rsa.RSAPublicKey):
            scheme = scheme or "rsassa_pss"
            allowed = {"rsassa_pss": policy.rsa_pss, "rsassa_pkcs1v15": policy.rsa_pkcs1v15}
        else:
            assert isinstance(public_key, ec.EllipticCurvePublicKey), "the policy allows no other"
            scheme = scheme or "ecdsa"
            allowed = {"ecdsa": policy.ecdsa}
            digest = digest or _CURVE_DIGESTS.get(public_key.curve.name)
        if not allowed.get(scheme, False):
            raise AlgorithmProblem(
                f"lược đồ ký {scheme} không dùng được với khóa {kind} theo chính sách",
                f"signature scheme {scheme} cannot be used with a {kind} key under the policy",
            )
        digest = digest or "sha256"
        policy.check_digest(digest)
        self._hash = hash_algorithm(digest)
        self.certificate = certificate
        self.chain = tuple(chain)
        self.digest = digest
        self.scheme = scheme
        self._public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey = public_key

    @property
    def _padding(self) -> padding.AsymmetricPadding:
        if self.scheme == "rsassa_pss":
            # Salt as long as the digest, MGF1 on the same hash: RFC 8017's and JWS's choice.
            return padding.PSS(mgf=padding.MGF1(self._hash), salt_length=self._hash.digest_size)
        return padding.PKCS1v15()

    def sign(self, data: bytes) -> bytes:
        hasher = hashes.Hash(self._hash)
        hasher.update(data)
        return self._sign_digest(hasher.finalize())

    @abc.abstractmethod
    def _sign_digest(self, digest: bytes) -> bytes:
        """The raw signature of ``digest`` (already hashed with the signer's digest)."""

    def _check_signature(self, signature: bytes, digest: bytes, source: tuple[str, str]) -> None:
        """A signature made outside this process must verify before it leaves: a token or a
        service using another key or scheme is said here, not by the receiver."""
        prehashed = utils.Prehashed(self._hash)
        try:
            if isinstance(self._public_key, rsa.RSAPublicKey):
                self._public_key.verify(signature, digest, self._padding, prehashed)
            else:
                self._public_key.verify(signature, digest, ec.ECDSA(prehashed))
        except InvalidSignature:
            raise SignerError(
                "signature.mismatch",
                f"chữ ký do {source[0]} trả về không khớp với chứng thư số (khóa hoặc lược đồ khác)",
                f"the signature {source[1]} returned does not match the certificate "
                "(another key or scheme)",
            ) from None


# -- keys in files ------------------------------------------------------------------------------

_development_warning_given = False
_warning_lock = threading.Lock()


def _warn_development() -> None:
    global _development_warning_given
    with _warning_lock:
        if _development_warning_given:
            return
        _development_warning_given = True
    log.warning(
        "khóa ký nằm trong tệp: chỉ dùng để phát triển; hãy dùng token/HSM PKCS#11 "
        "(TT 15/2025/TT-BKHCN) / signing key in a file: for development only; use a PKCS#11 "
        "token or HSM in production (Circular 15/2025/TT-BKHCN)"
    )


class FileSigner(_PolicySigner):
    """A private key held in this process, loaded from PEM or PKCS#12 files (development:
    the first one made logs a warning)."""

    def __init__(
        self,
        private_key: Any,
        certificate: x509.Certificate,
        chain: Iterable[x509.Certificate] = (),
        *,
        digest: str | None = None,
        scheme: str | None = None,
        policy: AlgorithmPolicy | None = None,
    ) -> None:
        super().__init__(
            certificate, chain, digest=digest, scheme=scheme, policy=policy or AlgorithmPolicy()
        )
        if (
            not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
            or private_key.public_key() != self._public_key
        ):
            raise SignerError(
                "signer.key_mismatch",
                "khóa bí mật không thuộc chứng thư số đã cho",
                "the private key does not belong to the given certificate",
            )
        self._private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = private_key
        _warn_development()

    def _sign_digest(self, digest: bytes) -> bytes:
        prehashed = utils.Prehashed(self._hash)
        if isinstance(self._private_key, rsa.RSAPrivateKey):
            return self._private_key.sign(digest, self._padding, prehashed)
        return self._private_key.sign(digest, ec.ECDSA(prehashed))

    @classmethod
    def from_pem(
        cls,
        certificate: Path | bytes,
        key: Path | bytes,
        password: bytes | None = None,
        *,
        digest: str | None = None,
        scheme: str | None = None,
        policy: AlgorithmPolicy | None = None,
    ) -> FileSigner:
        """The certificate file holds the signer's certificate first, then its chain; ``key``
        a PEM private key (PKCS#8 or traditional, encrypted when ``password`` is given)."""
        certificates = _pem_certificates(_read(certificate, "certificate"))
        try:
            private_key = serialization.load_pem_private_key(_read(key, "key"), password)
        except (ValueError, TypeError) as exc:
            raise SignerError(
                "signer.key_unreadable",
                f"không đọc được khóa bí mật PEM (sai mật khẩu hoặc sai định dạng): {exc}",
                f"cannot read the PEM private key (wrong password or format): {exc}",
            ) from None
        except Exception as exc:  # cryptography's UnsupportedAlgorithm: an unknown key type
            raise SignerError(
                "signer.key_unreadable",
                f"không đọc được khóa bí mật PEM: {exc}",
                f"cannot read the PEM private key: {exc}",
            ) from None
        return cls(
            _signing_key(private_key),
            certificates[0],
            certificates[1:],
            digest=digest,
            scheme=scheme,
            policy=policy,
        )

    @classmethod
    def from_pkcs12(
        cls,
        path: Path | bytes,
        password: bytes | None,
        *,
        digest: str | None = None,
        scheme: str | None = None,
        policy: AlgorithmPolicy | None = None,
    ) -> FileSigner:
        """A PKCS#12 (.p12/.pfx) file with the key, its certificate and the chain."""
        try:
            key, certificate, others = pkcs12.load_key_and_certificates(
                _read(path, "PKCS#12"), password
            )
        except (ValueError, TypeError) as exc:
            raise SignerError(
                "signer.key_unreadable",
                f"không đọc được tệp PKCS#12 (sai mật khẩu hoặc sai định dạng): {exc}",
                f"cannot read the PKCS#12 file (wrong password or format): {exc}",
            ) from None
        if key is None or certificate is None:
            raise SignerError(
                "signer.key_unreadable",
                "tệp PKCS#12 thiếu khóa bí mật hoặc chứng thư số",
                "the PKCS#12 file lacks the private key or the certificate",
            )
        return cls(
            _signing_key(key), certificate, others, digest=digest, scheme=scheme, policy=policy
        )


def _signing_key(key: Any) -> Any:
    """The key itself, or the policy's refusal of its type (Ed25519, DSA, ...)."""
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        AlgorithmPolicy().check_key(key_kind(key.public_key())[0], 0)
    return key


def _read(source: Path | bytes, what: str) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return source.read_bytes()
    except OSError as exc:
        raise SignerError(
            "signer.file_unreadable",
            f"không đọc được tệp {what} {source}: {exc.strerror}",
            f"cannot read the {what} file {source}: {exc.strerror}",
        ) from None


def _pem_certificates(data: bytes) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise SignerError(
            "signer.certificate_unreadable",
            f"không đọc được chứng thư số PEM: {exc}",
            f"cannot read the PEM certificate: {exc}",
        ) from None
    return certificates


# -- PKCS#11 tokens and HSMs --------------------------------------------------------------------


def open_token_session(module: str | None, token_label: str, pin: str, *, rw: bool = False) -> Any:
    """A logged-in session (``pkcs11.Session``) on the token ``token_label`` of the PKCS#11
    library ``module`` (see :func:`pkcs11_module`); :class:`SignerError` when the library, the
    token or the PIN fails. The caller closes it."""
    import pkcs11

    path = pkcs11_module(module)
    try:
        library = pkcs11.lib(path)
    except (RuntimeError, OSError, pkcs11.PKCS11Error) as exc:
        raise SignerError(
            "pkcs11.module",
            f"không nạp được thư viện PKCS#11 {path}: {exc}",
            f"cannot load the PKCS#11 library {path}: {exc}",
        ) from None
    try:
        token = library.get_token(token_label=token_label)
        return token.open(user_pin=pin, rw=rw)
    except pkcs11.NoSuchToken:
        raise SignerError(
            "pkcs11.no_token",
            f"không có token {token_label!r} trong {path}",
            f"no token {token_label!r} in {path}",
        ) from None
    except (pkcs11.PinIncorrect, pkcs11.PinLenRange, pkcs11.PinLocked) as exc:
        raise SignerError(
            "pkcs11.pin",
            f"mã PIN của token {token_label!r} bị từ chối ({type(exc).__name__})",
            f"the PIN of token {token_label!r} was refused ({type(exc).__name__})",
        ) from None


class Pkcs11Signer(_PolicySigner):
    """A key that never leaves a PKCS#11 token or HSM (USB token, smart card, network HSM).

    The digest is computed here and only the digest goes to the token (``CKM_RSA_PKCS_PSS``,
    ``CKM_RSA_PKCS`` over a DigestInfo, ``CKM_ECDSA``): the mechanisms every token has, and
    bodies of any size. The certificate is read from the token (the certificate object with the
    key's label) unless given. One session is kept open; signatures are serialized on it.
    """

    def __init__(
        self,
        module: str | None,
        token_label: str,
        pin: str,
        key_label: str,
        *,
        certificate: x509.Certificate | None = None,
        chain: Iterable[x509.Certificate] = (),
        digest: str | None = None,
        scheme: str | None = None,
        policy: AlgorithmPolicy | None = None,
    ) -> None:
        import pkcs11
        from pkcs11 import Attribute, ObjectClass, SignMixin

        session = open_token_session(module, token_label, pin)
        try:
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=key_label)
            assert isinstance(key, SignMixin), "a PKCS#11 private key signs"
            if certificate is None:
                found = list(
                    session.get_objects(
                        {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: key_label}
                    )
                )
                if len(found) != 1:
                    raise SignerError(
                        "pkcs11.no_certificate",
                        f"token không có đúng một chứng thư số nhãn {key_label!r}; hãy chỉ ra "
                        "tệp chứng thư số",
                        f"the token has not exactly one certificate labelled {key_label!r}; "
                        "give the certificate file",
                    )
                certificate = x509.load_der_x509_certificate(found[0][Attribute.VALUE])
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned) as exc:
            session.close()
            raise SignerError(
                "pkcs11.no_key",
                f"token {token_label!r} không có đúng một khóa bí mật nhãn {key_label!r} "
                f"({type(exc).__name__})",
                f"token {token_label!r} has not exactly one private key labelled {key_label!r} "
                f"({type(exc).__name__})",
            ) from None
        except SignerError:
            session.close()
            raise
        self._session, self._key, self._lock = session, key, threading.Lock()
        try:
            super().__init__(
                certificate,
                chain,
                digest=digest,
                scheme=scheme,
                policy=policy or AlgorithmPolicy(),
            )
            # One signature now: a wrong key, PIN state or mechanism is said at start-up.
            self.sign(b"lienthong: kiem tra khoa / key check")
        except Exception:
            session.close()
            raise

    def _sign_digest(self, digest: bytes) -> bytes:
        from pkcs11 import MGF, Mechanism, PKCS11Error
        from pkcs11.util.ec import encode_ecdsa_signature

        try:
            with self._lock:
                if self.scheme == "rsassa_pss":
                    mechanism_hash, mgf = _PKCS11_PSS[self.digest]
                    signature = self._key.sign(
                        digest,
                        mechanism=Mechanism.RSA_PKCS_PSS,
                        mechanism_param=(
                            getattr(Mechanism, mechanism_hash),
                            getattr(MGF, mgf),
                            len(digest),
                        ),
                    )
                elif self.scheme == "rsassa_pkcs1v15":
                    digest_info = algos.DigestInfo(
                        {
                            "digest_algorithm": {
                                "algorithm": self.digest,
                                "parameters": core.Null(),
                            },
                            "digest": digest,
                        }
                    )
                    signature = self._key.sign(digest_info.dump(), mechanism=Mechanism.RSA_PKCS)
                else:
                    signature = encode_ecdsa_signature(
                        self._key.sign(digest, mechanism=Mechanism.ECDSA)
                    )
        except PKCS11Error as exc:
            raise SignerError(
                "pkcs11.sign",
                f"token từ chối ký ({type(exc).__name__})",
                f"the token refused to sign ({type(exc).__name__})",
            ) from None
        self._check_signature(signature, digest, ("token PKCS#11", "the PKCS#11 token"))
        return bytes(signature)

    def close(self) -> None:
        """Close the token session."""
        self._session.close()

    def __enter__(self) -> Pkcs11Signer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


#: Digest -> (PKCS#11 hash mechanism, MGF1 function) for RSASSA-PSS.
_PKCS11_PSS = {
    "sha256": ("SHA256", "SHA256"),
    "sha384": ("SHA384", "SHA384"),
    "sha512": ("SHA512", "SHA512"),
    "sha3_256": ("SHA3_256", "SHA3_256"),
    "sha3_384": ("SHA3_384", "SHA3_384"),
    "sha3_512": ("SHA3_512", "SHA3_512"),
}


# -- remote signing -----------------------------------------------------------------------------


class RemoteSigner(_PolicySigner):
    """A key kept by a remote-signing service (CSC API, a vendor's service): the digest goes
    out, the raw signature comes back.

    ``sign_digest(digest, digest_name)`` is the adapter: it sends the digest to the service and
    returns the raw signature (ECDSA as DER, or as ``r || s`` with ``ecdsa_format="raw"``).
    ``scheme`` must say what the service does: remote-signing services commonly sign with
    PKCS#1 v1.5 (``rsassa_pkcs1v15``). Every answer is verified against the certificate before
    it is used.
    """

    def __init__(
        self,
        sign_digest: Callable[[bytes, str], bytes],
        certificate: x509.Certificate,
        chain: Iterable[x509.Certificate] = (),
        *,
        digest: str | None = None,
        scheme: str | None = None,
        policy: AlgorithmPolicy | None = None,
        ecdsa_format: str = "der",
    ) -> None:
        if ecdsa_format not in ("der", "raw"):
            raise ValueError(f"ecdsa_format must be 'der' or 'raw', not {ecdsa_format!r}")
        super().__init__(
            certificate, chain, digest=digest, scheme=scheme, policy=policy or AlgorithmPolicy()
        )
        self._remote, self._ecdsa_format = sign_digest, ecdsa_format

    def _sign_digest(self, digest: bytes) -> bytes:
        signature = self._remote(digest, self.digest)
        if self.scheme == "ecdsa" and self._ecdsa_format == "raw":
            half = len(signature) // 2
            signature = utils.encode_dss_signature(
                int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            )
        self._check_signature(signature, digest, ("dịch vụ ký số từ xa", "the remote service"))
        return signature

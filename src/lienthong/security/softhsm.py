"""A SoftHSM2 token in a directory of its own, holding given keys and certificates: what the
signing tests and the benchmark sign with through PKCS#11 (docs/security.md shows the same
steps for an agency's token). Needs ``softhsm2-util`` and the SoftHSM2 module (Debian package
``softhsm2``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from lienthong.security.signers import DEFAULT_PKCS11_MODULE

__all__ = ["TokenKey", "add_aes_key", "make_token", "softhsm_available"]


@dataclass(frozen=True, slots=True)
class TokenKey:
    """A key to put on the token: its PEM PKCS#8 file, label and certificate."""

    label: str
    key_file: Path
    certificate: x509.Certificate | None = None
    """Stored as a certificate object under the same label (``None``: the key only)."""


def softhsm_available(module: str = DEFAULT_PKCS11_MODULE) -> bool:
    return shutil.which("softhsm2-util") is not None and Path(module).exists()


def make_token(
    directory: Path,
    label: str,
    pin: str,
    keys: Sequence[TokenKey],
    module: str = DEFAULT_PKCS11_MODULE,
) -> Path:
    """Create a token ``label`` (user PIN ``pin``) in ``directory`` holding ``keys`` (ids 1, 2,
    ...); returns its SoftHSM2 configuration file. ``SOFTHSM2_CONF`` is set to it in this
    process (the module reads it when loaded), so child processes find the token too."""
    (directory / "tokens").mkdir(parents=True, exist_ok=True)
    config = directory / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(config)

    def util(*args: str | Path) -> None:
        done = subprocess.run(
            ["softhsm2-util", *map(str, args)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"softhsm2-util {args[0]}: {done.stdout}{done.stderr}")

    util("--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "87654321")
    for number, key in enumerate(keys, start=1):
        util(
            "--import", key.key_file, "--token", label, "--label", key.label,
            "--id", f"{number:02x}", "--pin", pin,
        )  # fmt: skip
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass
    from pkcs11.util.x509 import decode_x509_certificate

    library = pkcs11.lib(module)
    library.reinitialize()  # a module loaded earlier in this process read another config
    with library.get_token(token_label=label).open(user_pin=pin, rw=True) as session:
        # softhsm2-util imports keys only: the certificates go in through PKCS#11 itself.
        for number, key in enumerate(keys, start=1):
            if key.certificate is None:
                continue
            attributes = decode_x509_certificate(key.certificate.public_bytes(Encoding.DER))
            attributes.update(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.LABEL: key.label,
                    Attribute.ID: bytes([number]),
                    Attribute.TOKEN: True,
                }
            )
            session.create_object(attributes)
    return config


def add_aes_key(
    label: str,
    pin: str,
    key_label: str,
    value: bytes | None = None,
    module: str = DEFAULT_PKCS11_MODULE,
) -> None:
    """Put an AES-256 key that wraps and unwraps (a master key of encryption at rest) on token
    ``label``: generated on the token, or ``value`` imported (to compare with a file). Either
    way it is sensitive and never extractable."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass

    library = pkcs11.lib(module)
    with library.get_token(token_label=label).open(user_pin=pin, rw=True) as session:
        if value is None:
            session.generate_key(
                KeyType.AES,
                256,
                label=key_label,
                store=True,
                capabilities=MechanismFlag.WRAP | MechanismFlag.UNWRAP,
                template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
            )
            return
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.VALUE: value,
                Attribute.LABEL: key_label,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.WRAP: True,
                Attribute.UNWRAP: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
            }
        )

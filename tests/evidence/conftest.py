"""The evidence tests' shared material: real signed, received and time-stamped messages."""

from __future__ import annotations

import pytest

from tests.evidence.proofs import Evidence, make_evidence


@pytest.fixture(scope="session")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Evidence:
    """Three messages of one dossier (CAdES with OCSP stapled, JWS, unsigned) in one batch, made
    with a PKI of its own whose services are stopped once they are made."""
    return make_evidence(tmp_path_factory.mktemp("evidence"))

"""The self-check a signer makes of its own certificate (shared by the agent's envelope signer,
the hub's receipt signer and the evidence export), against the test PKI's running services."""

from __future__ import annotations

import datetime as dt
import logging

from lienthong.security.pki import TestPki
from lienthong.security.selfcheck import SigningSelfCheck
from lienthong.security.verify import VerifyContext, verify_cades
from tests.evidence.proofs import signer_of

_LOG = logging.getLogger("tests.selfcheck")


def test_the_self_check_staples_rechecks_when_due_and_blocks_a_revoked_key(
    test_pki: TestPki, pki_services: str
) -> None:
    online = VerifyContext(trust_anchors=(test_pki.root.certificate,), allow_fetching=True)
    ticks, wall = [0.0], [dt.datetime.now(dt.UTC)]
    signer = signer_of(test_pki, test_pki.hub)
    check = SigningSelfCheck(
        signer, online, 60, logger=_LOG, clock=lambda: ticks[0], wall_clock=lambda: wall[0]
    )
    first, stapled = check.current()
    assert first.valid and check.state == "ok" and not check.blocked
    assert stapled.ocsp_response is not None and stapled.chain and stapled.next_update
    # the stapled answers alone let a verifier with no network conclude, hard-fail
    signature = stapled.sign(b"{}", signer)
    offline = verify_cades(b"{}", signature, VerifyContext(trust_anchors=online.trust_anchors))
    assert offline.valid and {r.origin for r in offline.revocation} == {"stapled"}

    assert check.current()[0] is first  # not due yet: no new check
    ticks[0] = 60.0
    second = check.current()[0]
    assert second is not first and second.valid  # the interval passed
    next_update = check.stapled.next_update
    assert next_update is not None
    wall[0] = next_update  # the stapled answer expired before the interval: checked again
    assert check.current()[0] is not second

    # a CA out of reach: no conclusion, signing goes on unstapled
    unreachable = SigningSelfCheck(
        signer, VerifyContext(trust_anchors=online.trust_anchors), 60, logger=_LOG
    )
    verification, nothing = unreachable.current()
    assert not verification.valid and not nothing and unreachable.state == "unchecked"
    # a revoked key is blocked, and nothing is stapled
    revoked = SigningSelfCheck(signer_of(test_pki, test_pki.revoked), online, 60, logger=_LOG)
    verification, nothing = revoked.current()
    assert verification.status.value == "revoked" and revoked.blocked and not nothing
    assert revoked.state == "blocked"

"""docs/security.md says what the code does: the hub's code table is the answer-code table and
the verifier's statuses, and the agent's configuration example is a valid `[signing]` table."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from lienthong.agent.settings import AgentSettings
from lienthong.hub.errors import ANSWER_CODES
from lienthong.hub.signatures import SIGNATURE_CODES
from lienthong.security.policy import SignatureMode

DOC = (Path(__file__).parents[2] / "docs" / "security.md").read_text("utf-8")


def _section(title: str) -> str:
    return DOC.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_hubs_code_table_is_the_answer_codes_and_the_statuses() -> None:
    rows = re.findall(
        r"^\| `(\d+)` \| (\d+) \| `?([a-z_()\s]+?)`? \| (yes|no) \|", _section("The hub"), re.M
    )
    by_status = {code: status.value for status, code in SIGNATURE_CODES.items()}
    assert [code for code, *_ in rows] == ["50", "51", "52", "53", "54", "55", "56", "57"]
    for code, http, status, retry in rows:
        entry = ANSWER_CODES[code]
        assert (int(http), retry == "yes") == (entry.http_status, entry.retryable), code
        assert status == by_status.get(code, "(none)"), code


def test_the_modes_named_are_the_modes() -> None:
    hub = _section("The hub")
    for mode in SignatureMode:
        assert f"`{mode.value}`" in hub


def test_the_agents_example_is_a_valid_signing_table() -> None:
    block = _section("The agent").split("```toml\n", 1)[1].split("```", 1)[0]
    settings = AgentSettings.from_mapping(tomllib.loads(block))
    assert settings.signing.format == "cades" and settings.signing.pkcs11_token
    assert settings.signing.trust_anchors

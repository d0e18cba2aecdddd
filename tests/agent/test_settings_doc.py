"""docs/agent.md documents every agent setting, under the variable that really sets it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from lienthong.agent.settings import (
    AgentSettings,
    EvidenceSettings,
    PortalSettings,
    PullSettings,
    SealingSettings,
    SigningSettings,
    WebhookSettings,
)

DOC = (Path(__file__).parents[2] / "docs" / "agent.md").read_text("utf-8")
ROW = re.compile(r"^\| (`[^|]+`) \| (`[^|]*`|[^|]*) \|", re.M)


def documented() -> dict[str, str]:
    """Setting name (as in TOML, ``portal.x`` for the portal table) -> its variable cell."""
    rows: dict[str, str] = {}
    section = ""
    for line in DOC.splitlines():
        if line.startswith("| Setting (TOML `[pulls]`)"):
            section = "pulls."
        elif line.startswith("| Setting (TOML `[webhook]`)"):
            section = "webhook."
        elif line.startswith("| Setting (TOML `[signing]`)"):
            section = "signing."
        elif line.startswith("| Setting (TOML `[evidence]`)"):
            section = "evidence."
        elif line.startswith("| Setting (TOML `[sealing]`)"):
            section = "sealing."
        elif line.startswith("| Setting (TOML)"):
            section = ""
        match = ROW.match(line)
        if match:
            names = re.findall(r"`([a-z0-9_.]+)`", match.group(1))
            for name in names:
                # a row of several settings abbreviates its variables: documented, not replayed
                rows[section + name] = match.group(2) if len(names) == 1 else ""
    return rows


def fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_every_setting_is_documented() -> None:
    rows = documented()
    expected = [
        *(
            name
            for name in fields(AgentSettings)
            if name not in ("portal", "pulls", "webhook", "signing", "evidence", "sealing")
        ),
        *(f"portal.{name}" for name in fields(PortalSettings)),
        *(f"pulls.{name}" for name in fields(PullSettings)),
        *(f"webhook.{name}" for name in fields(WebhookSettings)),
        *(f"signing.{name}" for name in fields(SigningSettings)),
        *(f"evidence.{name}" for name in fields(EvidenceSettings)),
        *(f"sealing.{name}" for name in fields(SealingSettings)),
    ]
    missing = [name for name in expected if name not in rows]
    assert not missing, f"docs/agent.md does not document {missing}"


def test_each_documented_variable_sets_its_setting() -> None:
    """For the plain scalar settings: the variable of the table, set to a sample, is read."""
    samples = {str: "x-sample", int: 7, float: 7.5, bool: False}
    checked = 0
    for name, cell in documented().items():
        variables = re.findall(r"LIENTHONG_AGENT_[A-Z0-9_]+", cell)
        if len(variables) != 1:
            continue  # abbreviated cells ("..._X", two variables in one row)
        owner, _, field_name = name.rpartition(".")
        cls = {
            "": AgentSettings,
            "portal": PortalSettings,
            "pulls": PullSettings,
            "webhook": WebhookSettings,
            "signing": SigningSettings,
            "evidence": EvidenceSettings,
            "sealing": SealingSettings,
        }[owner]
        spec = {f.name: f for f in dataclasses.fields(cls)}.get(field_name)
        assert spec is not None, name
        kind = {"str": str, "int": int, "float": float, "bool": bool}.get(str(spec.type))
        if kind is None or field_name in ("password", "password_file", "secret", "secret_file"):
            continue
        if name in ("status_access",):
            value: object = "open"
        elif "path" in field_name:
            value = "/x-sample"
        elif "url" in field_name:
            value = "http://127.0.0.1:9/x"
        else:
            value = samples[kind]
        environ = {variables[0]: str(value).lower() if kind is bool else str(value)}
        if name.startswith("pulls."):
            environ["LIENTHONG_AGENT_PORTAL_USERNAME"] = "u"
        settings = AgentSettings.load(None, environ=environ)
        target = settings if not owner else getattr(settings, owner)
        assert getattr(target, field_name) == value, (name, variables[0])
        checked += 1
    assert checked >= 15

"""The standard as code: the QCVN 120:2019/BTTTT packet catalog, typed models and validation.

Pure code, no I/O beyond reading the bundled catalog (and override files you name). Nothing
here imports the hub, the agent or the store.
"""

from lienthong.spec.catalog import (
    DEFAULT_PROFILE,
    Catalog,
    CatalogError,
    CodeList,
    FieldSpec,
    PacketKind,
    PacketSpec,
    PacketStatus,
    bundled_profiles,
    load_catalog,
)
from lienthong.spec.check import CheckedDocument, check_bytes, check_parsed
from lienthong.spec.dates import VIETNAM, format_wire_date, parse_wire_date
from lienthong.spec.infer import Inference, infer_packet
from lienthong.spec.inputs import read_documents
from lienthong.spec.issues import ISSUE_CODES, Issue, IssueCode, Severity
from lienthong.spec.models import PacketModel, model_for
from lienthong.spec.validate import EnvelopeResult, RecordResult, Validator

__all__ = [
    "DEFAULT_PROFILE",
    "ISSUE_CODES",
    "VIETNAM",
    "Catalog",
    "CatalogError",
    "CheckedDocument",
    "CodeList",
    "EnvelopeResult",
    "FieldSpec",
    "Inference",
    "Issue",
    "IssueCode",
    "PacketKind",
    "PacketModel",
    "PacketSpec",
    "PacketStatus",
    "RecordResult",
    "Severity",
    "Validator",
    "bundled_profiles",
    "check_bytes",
    "check_parsed",
    "format_wire_date",
    "infer_packet",
    "load_catalog",
    "model_for",
    "parse_wire_date",
    "read_documents",
]

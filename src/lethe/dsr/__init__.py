"""Data-subject rights: access and portability exports, erasure through the purge engine, pending requests."""

from __future__ import annotations

from lethe.dsr.erase import erase_subject
from lethe.dsr.export import export_subject
from lethe.dsr.identity import SubjectRef
from lethe.dsr.record import RecordedRequest, record_request
from lethe.dsr.requests import RequestsResult, process_requests

__all__ = [
    "RecordedRequest",
    "RequestsResult",
    "SubjectRef",
    "erase_subject",
    "export_subject",
    "process_requests",
    "record_request",
]

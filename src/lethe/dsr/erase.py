"""Erasure of one subject now, through the purge engine (same guards, tombstones, audit)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lethe import audit
from lethe.dsr.identity import SubjectRef, resolve
from lethe.errors import GuardError
from lethe.policy import load_policy
from lethe.settings import Settings
from lethe.warehouse import connect

if TYPE_CHECKING:
    from lethe.purge import PurgeResult

log = logging.getLogger(__name__)


def erase_subject(settings: Settings, tenant: str, ref: SubjectRef) -> PurgeResult:
    """Resolve the subject (refusing nobody or several), refuse a legal hold, then erase everything they hold."""
    from lethe.purge import resume_unfinished, run_engine
    from lethe.purge.plan import held_subjects

    load_policy(settings.tenants_file).tenant(tenant)
    # an erasure killed half way (of this person, say) is finished first: their contact may be gone already, and
    # resolving them against what it left would answer "matches nobody" while the rest of their data remains
    audit.check_appendable(settings.audit_log)  # a log nothing can be chained to refuses before anything runs
    resume_unfinished(settings)
    con = connect(settings)
    try:
        subject = resolve(con, tenant, ref)
        held = held_subjects(con, [subject], settings.as_of)
    finally:
        con.close()
    if held:
        raise GuardError(
            f"erasure refused: {ref.describe()} in tenant {tenant!r} is under an open legal hold "
            "(raw.legal_holds); nothing was erased"
        )
    return run_engine(settings, kind="erasure", subjects=[subject], from_mart=False)

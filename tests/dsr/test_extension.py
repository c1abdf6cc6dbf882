"""GDPR Art. 12(3): a controller may extend the time limit to answer a request by two further months, telling
the requester within the first. The DSR CSV's optional `extension_notified_at` says when it did; before, an
extended request showed as overdue from its first due date on the dashboard and in `lethe status`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import generated_home
import pytest
from generated_home import NO_HOLDS
from purge_scenario import query_rows


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_home.build(tmp_path_factory.mktemp("extension"))


def test_an_extension_told_in_time_moves_the_due_date_and_one_told_late_does_not(built: Path, tmp_path: Path) -> None:
    from lethe.build import run_build
    from lethe.ingest import run_ingest
    from lethe.publish import publish
    from lethe.status import compute_status

    settings = generated_home.copy(built, tmp_path / "h")
    overdue_before = compute_status(settings)["dsr_overdue"]
    folder = settings.landing / NO_HOLDS / "crm" / "dsr_requests" / "2026" / "10"
    folder.mkdir(parents=True, exist_ok=True)
    # as of 2026-11-01, 30 days to answer (the tenant's generated policy): received 2026-09-20, first due 2026-10-20
    (folder / "extended.csv").write_text(
        "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details,"
        "extension_notified_at\n"
        "ext-in-time,2026-09-20T10:00:00Z,access,,nobody-1@example.org,,2026-09-21T10:00:00Z,,2026-10-05T09:00:00Z\n"
        "ext-too-late,2026-09-20T10:00:00Z,access,,nobody-2@example.org,,2026-09-21T10:00:00Z,,2026-10-25T09:00:00Z\n"
        "ext-none,2026-09-20T10:00:00Z,access,,nobody-3@example.org,,2026-09-21T10:00:00Z,,\n"
    )
    (folder / "old-format.csv").write_text(  # a file from before the column: it loads as it did
        "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details\n"
        "old-format,2026-09-20T10:00:00Z,access,,nobody-4@example.org,,2026-09-21T10:00:00Z,\n"
    )

    run_ingest(settings, landing=settings.landing)
    run_build(settings)
    publish(settings)

    rows = query_rows(settings, "select request_id, is_extended, due_at, status from marts.fct_dsr_requests "
                                "where request_id in ('ext-in-time', 'ext-too-late', 'ext-none', 'old-format') "
                                "order by request_id")
    first, extended = datetime(2026, 10, 20, 10), datetime(2026, 12, 20, 10)
    assert rows == [
        ("ext-in-time", True, extended, "open"),
        ("ext-none", False, first, "overdue"),
        ("ext-too-late", False, first, "overdue"),
        ("old-format", False, first, "overdue"),
    ]
    assert query_rows(settings, "select count(*) from quarantine.rows where dataset = 'dsr_requests'") == [(0,)]
    assert compute_status(settings)["dsr_overdue"] == overdue_before + 3


def test_a_home_loaded_before_the_column_existed_builds_before_its_next_ingest(built: Path, tmp_path: Path) -> None:
    """The raw table of a home ingested by older code lacks the new column, and every staging view selects each
    contract column: the build failed (Binder Error: column "extension_notified_at" not found) until an ingest
    created it. The build adds what the contracts gained."""
    import duckdb

    from lethe.build import run_build

    settings = generated_home.copy(built, tmp_path / "h")
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("alter table raw.dsr_requests drop column extension_notified_at")
    finally:
        con.close()

    run_build(settings)

    [(requests, extended)] = query_rows(
        settings, "select count(*), count(*) filter (where is_extended) from marts.fct_dsr_requests")
    assert requests > 0 and extended == 0

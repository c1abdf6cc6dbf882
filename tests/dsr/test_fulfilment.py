"""A request Lethe fulfilled shows as done in the request tracking mart (and `lethe status`, and the dashboard)
as soon as it is fulfilled: an access or portability request once its export is written, an erasure once its
purge run finished. Before, nothing recorded a fulfilment, so every exported request stayed open and went
overdue, and an erased subject's request (whose identities the erasure removed) never counted as erased."""

from __future__ import annotations

from pathlib import Path

import generated_home
import pytest
from purge_scenario import query_rows


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_home.build(tmp_path_factory.mktemp("fulfilment"))


def test_exported_and_erased_requests_are_done_once_processed(built: Path, tmp_path: Path) -> None:
    from lethe.dsr import process_requests
    from lethe.publish import publish
    from lethe.status import compute_status

    settings = generated_home.copy(built, tmp_path / "h")
    overdue_before = compute_status(settings)["dsr_overdue"]

    result = process_requests(settings)

    assert result.outcomes.get("exported", 0) > 0 and result.outcomes.get("erased", 0) > 0
    rows = query_rows(settings, """
        select d.request_type, d.status, d.completed_at is not null, p.outcome
        from marts.fct_dsr_requests d join lethe_meta.dsr_processed p using (tenant_id, request_id)
        where p.outcome in ('exported', 'erased')""")
    assert {t for t, *_ in rows} >= {"access", "erasure"}
    assert all(status == "done" and completed for _, status, completed, _ in rows), rows
    # a request that was never verified is not processed, and is not done
    unverified = query_rows(settings, "select status from marts.fct_dsr_requests where verified_at is null "
                                 "and request_type in ('access', 'erasure', 'portability')")
    assert unverified and all(status != "done" for (status,) in unverified)
    publish(settings)  # as `lethe run` and the enforce DAG do after the requests and the purge
    assert compute_status(settings)["dsr_overdue"] < overdue_before

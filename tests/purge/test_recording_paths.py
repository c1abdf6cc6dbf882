"""A recording's path comes from the data (a contact record's Recording.Location, relative to the tenant folder or
absolute): the purge deletes a file only inside the tenant's own recordings folder, never one elsewhere on the
machine, outside the landing zone, or in another tenant's folder, whatever a record names."""

from __future__ import annotations

import json

from purge_scenario import ERIN, TENANT, WAV, _ctr, days_ago, ingest, iso, query_rows

from lethe.purge import run_purge
from lethe.settings import Settings
from lethe.warehouse import connect


def test_a_recording_location_outside_the_tenant_folder_never_deletes_that_file(scenario: Settings) -> None:
    outside = scenario.landing.parent / "outside"
    outside.mkdir()
    victims = {
        "absolute": outside / "absolute.txt",
        "dotdot": outside / "dotdot.txt",
        "other_tenant": scenario.landing / "other-tenant" / "recordings" / "theirs.wav",
    }
    for path in victims.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(WAV)
    own = scenario.landing / TENANT / "recordings" / "2026" / "ctr-erin-1.wav"
    # more calls of Erin's, naming files outside by an absolute path and through '..'
    late = [
        _ctr("ctr-erin-5", ERIN, days_ago(19), str(victims["absolute"])),
        _ctr("ctr-erin-3", ERIN, days_ago(18), "../../outside/dotdot.txt"),
        _ctr("ctr-erin-4", ERIN, days_ago(17), "../other-tenant/recordings/theirs.wav"),
    ]
    # her chat redelivered naming an S3 key as Amazon Connect writes it, no file here: nothing to delete or report
    chat = _ctr("ctr-erin-2", ERIN, days_ago(15), "connect-bucket/connect/acme/CallRecordings/ctr-erin-2.wav", "CHAT")
    chat["LastUpdateTimestamp"] = iso(days_ago(1))
    late.append(chat)
    # a call naming the tenant's recordings folder itself: a folder is never deleted, and never stops the purge
    late.append(_ctr("ctr-erin-7", ERIN, days_ago(14), "recordings/2026"))
    # a call naming, by its absolute path, a file of another tenant's that is gone from disk (deleted by that
    # tenant's own purge, say): its row in the ingest manifest is that tenant's, and this purge leaves it as it is
    gone = "other-tenant/recordings/gone.wav"
    late.append(_ctr("ctr-erin-8", ERIN, days_ago(13), str(scenario.landing / gone)))
    scenario.tenants_file.write_text(scenario.tenants_file.read_text().replace("purge_max_share: 0.25",
                                                                               "purge_max_share: 0.5"))
    path = scenario.landing / TENANT / "contact_records" / "2026" / "05" / "late.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in late) + "\n")
    ingest(scenario)
    assert query_rows(scenario, "select recording_location from raw.contact_records where contact_id = 'ctr-erin-2'") == [
        (chat["Recording"]["Location"],)]

    con = connect(scenario)
    con.execute("insert into lethe_meta.manifest (path, tenant_id, dataset, sha256, status) "
                "values (?, 'other-tenant', 'recordings', 'f00d', 'loaded')", [gone])
    con.close()

    result = run_purge(scenario, dry_run=False)  # the scenario's plan erases Erin

    assert all(p.read_bytes() == WAV for p in victims.values())
    assert (scenario.landing / TENANT / "recordings" / "2026").is_dir()
    assert not own.exists()  # her recording inside the tenant's folder still goes
    kept = query_rows(scenario, "select sum(rows) from lethe_meta.purge_counts where run_id = ? and "
                      "target = 'file:recordings' and action = 'not_deleted'", [result.run_id])
    assert kept == [(4,)]
    assert any("4 recording or transcript files were not deleted" in n for n in result.notes)
    assert query_rows(scenario, "select path, status from lethe_meta.manifest where tenant_id = 'other-tenant'") == [
        (gone, "loaded")]

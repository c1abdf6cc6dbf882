"""`lethe ingest`: landing files → contract-validated raw tables, with quarantine and a manifest."""

from lethe.ingest.run import FAMILIES, discover_tenants, run_ingest
from lethe.ingest.summary import IngestSummary, SourceSummary

__all__ = ["FAMILIES", "IngestSummary", "SourceSummary", "discover_tenants", "run_ingest"]

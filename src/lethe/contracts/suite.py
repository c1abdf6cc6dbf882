"""The Great Expectations suite built from a contract, and its run on a batch (pandas datasource, Arrow-backed)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from lethe.contracts.model import Contract
from lethe.contracts.rules import Rule, build_rules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result on one batch."""

    rule: str
    expectation: str
    column: str
    success: bool
    unexpected_count: int
    element_count: int


def _expectation(rule: Rule) -> Any:
    import great_expectations.expectations as gxe

    meta = {"rule": rule.name}
    col = rule.column + "__typed" if rule.typed else rule.column
    if rule.kind == "length":
        return gxe.ExpectColumnValueLengthsToBeBetween(column=col, max_value=int(rule.maximum), meta=meta)
    if rule.kind == "required":
        return gxe.ExpectColumnValuesToNotBeNull(column=col, meta=meta)
    if rule.kind in ("type", "format"):
        return gxe.ExpectColumnValuesToMatchRegex(column=col, regex=rule.regex, meta=meta)
    if rule.kind == "value":  # where the text is there, its typed value must be too
        from great_expectations.expectations.row_conditions import Column

        return gxe.ExpectColumnValuesToNotBeNull(column=col, row_condition=Column(rule.column).is_not_null(), meta=meta)
    if rule.kind == "enum":
        return gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(rule.value_set or ()), meta=meta)
    return gxe.ExpectColumnValuesToBeBetween(column=col, min_value=rule.minimum, max_value=rule.maximum, meta=meta)


def build_suite(contract: Contract, future_limit: datetime) -> Any:
    """A GX 1.x ExpectationSuite with one expectation per contract row rule."""
    import great_expectations as gx

    _context()  # GX 1.x builds suites inside an active data context
    suite = gx.ExpectationSuite(name=f"{contract.dataset}-{contract.version}")
    for rule in build_rules(contract, future_limit):
        suite.add_expectation(_expectation(rule))
    return suite


_CONTEXT: Any = None
_PREPARED: dict[str, tuple[datetime, Any, Any, str]] = {}  # dataset -> (future limit, suite, batch definition, source)


def _context() -> Any:
    """The process's one ephemeral GX context (GX imported here, once, on first use)."""
    global _CONTEXT
    if _CONTEXT is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # GX sets this logger to INFO at import; its "Created temporary directory" line is noise on stderr
        logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
        from great_expectations.execution_engine import pandas_execution_engine

        # GX fingerprints every dataframe under 1 GB by hashing all its values, as costly as the validation
        # itself; the fingerprint only names batches in a persistent store, which the ephemeral context has not.
        pandas_execution_engine.HASH_THRESHOLD = 0
        _CONTEXT = gx.get_context(mode="ephemeral")
        _CONTEXT.variables.progress_bars = ProgressBarsConfig(globally=False)
    return _CONTEXT


def _prepared(contract: Contract, future_limit: datetime) -> tuple[Any, Any]:
    """The dataset's suite and a whole-dataframe batch definition, registered once per process."""
    ctx = _context()
    held = _PREPARED.get(contract.dataset)
    if held is not None and held[0] != future_limit:  # a later run: the future-timestamp bound moved
        ctx.suites.delete(held[1].name)
        ctx.data_sources.delete(held[3])
        held = None
    if held is None:
        name = f"{contract.dataset}-{uuid.uuid4().hex[:8]}"
        suite = ctx.suites.add(build_suite(contract, future_limit))
        source = ctx.data_sources.add_pandas(name)
        batch_def = source.add_dataframe_asset("batch").add_batch_definition_whole_dataframe("whole")
        held = _PREPARED[contract.dataset] = (future_limit, suite, batch_def, name)
    return held[1], held[2]


def validate_batch(contract: Contract, table: pa.Table, future_limit: datetime) -> list[ExpectationOutcome]:
    """Run the contract's suite on an Arrow table (text columns plus `<name>__typed`) via GX's pandas datasource.

    The frame stays Arrow-backed: with pandas' `future.infer_string`, GX's `astype(str)` keeps Arrow strings
    and its regex and length checks run in Arrow compute instead of on a Python object per value."""
    import warnings

    import pandas as pd

    suite, batch_def = _prepared(contract, future_limit)
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    with warnings.catch_warnings(), pd.option_context("future.infer_string", True):
        warnings.simplefilter("ignore", UserWarning)  # "pattern has match groups": we only test for a match
        batch = batch_def.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format="BASIC")
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        outcomes.append(ExpectationOutcome(
            rule=cfg.meta["rule"],
            expectation=cfg.type,
            column=cfg.kwargs["column"],
            success=bool(r.success),
            unexpected_count=int(r.result.get("unexpected_count") or 0),
            element_count=int(r.result.get("element_count") or len(frame)),
        ))
    return outcomes

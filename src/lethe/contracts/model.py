"""Load an ODCS v3 contract, validate it (pydantic model and JSON schema), and expose a typed view."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from lethe.errors import ConfigError
from lethe.settings import CONTRACTS_DIR

log = logging.getLogger(__name__)

LOGICAL_TYPES = {"string", "timestamp", "date", "integer", "number", "boolean", "array"}
FORMATS = {"jsonl", "json", "json_array", "csv", "file"}


class ContractError(ConfigError):
    """A data contract file is invalid."""


@dataclass(frozen=True)
class Property:
    """One column of a dataset, as the contract describes it."""

    name: str
    physical_name: str
    logical_type: str
    required: bool = False
    primary_key: bool = False
    enum: tuple[str, ...] | None = None
    format: str | None = None  # email | phone | contact_address (email or phone) | None
    minimum: float | None = None
    maximum: float | None = None
    pii: bool = False
    pii_type: str | None = None
    data_category: str | None = None
    classification: str | None = None
    source_encoding: str | None = None  # unix_seconds: a timestamp sent as Unix seconds
    # customProperty futureAllowed: a timestamp that may lie after the delivery (a consent's EffectiveTo, a
    # campaign's planned start); every other timestamp after it is quarantined as not yet possible
    future_allowed: bool = False


@dataclass(frozen=True)
class Contract:
    """The typed view of one data contract."""

    dataset: str
    path: Path
    version: str
    properties: tuple[Property, ...]
    landing_path: str
    format: str
    dedupe_key: tuple[str, ...]
    latest_wins_by: str | None
    purge_action: str | None
    retention_days: int | None
    data_category: str | None
    legal_basis: str | None
    purpose: str | None
    # customProperty latestDeliveryWins: a record with no modification time of its own (Lethe-format CSVs) is
    # replaced by its latest delivery: the row of the file loaded last (a later batch), within a batch the later
    # file by path and the later row
    latest_delivery_wins: bool = False
    # customProperty trackedSince: boolean properties whose raw row also keeps `_<name>_since`, the latestWinsBy
    # time of the first version seen with it true since it was last seen false (a flag re-dated by every later
    # edit of its record would hide how long a request made with it has waited)
    tracked_since: tuple[str, ...] = ()

    def since_column(self, name: str) -> str:
        """The raw column keeping when a tracked flag was first seen set."""
        return f"_{name}_since"

    @property
    def centre(self) -> bool:
        """True for the contact centre's own datasets (`_centre/`), which carry tenant_id as data."""
        return self.landing_path.startswith("_centre/")

    @property
    def source_dir(self) -> str:
        """The folder below the tenant (or `_centre`) that holds this dataset's files."""
        parts = self.landing_path.split("/")[1:]
        return "/".join(p for p in parts if "*" not in p)

    def prop(self, name: str) -> Property:
        for p in self.properties:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [p.name for p in self.properties]


@lru_cache(maxsize=1)
def _json_schema() -> dict[str, Any]:
    text = resources.files("open_data_contract_standard").joinpath("schema.json").read_text()
    return json.loads(text)


def _custom(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {c.get("property"): c.get("value") for c in (items or [])}


def _fail(path: Path, problem: str) -> ContractError:
    return ContractError(f"data contract {path}: {problem}")


def _check_documents(path: Path, doc: Any) -> None:
    """Validate against the JSON schema shipped with ODCS and against its pydantic model."""
    if not isinstance(doc, dict):
        raise _fail(path, "not a YAML mapping")
    validator = jsonschema.Draft201909Validator(_json_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise _fail(path, f"{where}: {err.message.splitlines()[0][:300]} (ODCS JSON schema)")
    try:
        OpenDataContractStandard(**doc)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(p) for p in first["loc"])
        raise _fail(path, f"{where}: {first['msg']} (ODCS model)") from None


def _property(path: Path, raw: dict[str, Any]) -> Property:
    custom = _custom(raw.get("customProperties"))
    opts = raw.get("logicalTypeOptions") or {}
    logical = raw.get("logicalType")
    if logical not in LOGICAL_TYPES:
        raise _fail(path, f"property {raw.get('name')!r}: logicalType {logical!r} is not one of {sorted(LOGICAL_TYPES)}")
    enum = None
    for rule in raw.get("quality") or []:
        valid = (rule.get("arguments") or {}).get("validValues")
        if rule.get("metric") == "invalidValues" and valid:
            enum = tuple(str(v) for v in valid)
    pii_type = custom.get("piiType")
    fmt = opts.get("format")
    if fmt not in (None, "email"):
        fmt = None
    if pii_type == "email":
        fmt = "email"
    elif pii_type == "phone":
        fmt = "phone"
    elif pii_type == "contact_address":
        fmt = "contact_address"
    return Property(
        name=raw["name"],
        physical_name=raw.get("physicalName") or raw["name"],
        logical_type=logical,
        required=bool(raw.get("required", False)),
        primary_key=bool(raw.get("primaryKey", False)),
        enum=enum,
        format=fmt,
        minimum=opts.get("minimum"),
        maximum=opts.get("maximum"),
        pii=bool(custom.get("pii", False)),
        pii_type=pii_type,
        data_category=custom.get("dataCategory"),
        classification=raw.get("classification"),
        source_encoding=custom.get("sourceEncoding"),
        future_allowed=_future_allowed(path, raw.get("name"), logical, custom.get("futureAllowed", False)),
    )


def _future_allowed(path: Path, name: Any, logical: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"property {name!r}: customProperties/futureAllowed: {value!r} is not true or false")
    if value and logical != "timestamp":
        raise _fail(path, f"property {name!r}: customProperties/futureAllowed is for timestamps, not {logical}")
    return value


def load_contract(path: Path) -> Contract:
    """Load and validate one contract file; raise ContractError naming the file and the problem."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise _fail(path, f"is not valid YAML ({str(exc).splitlines()[0]})") from None
    _check_documents(path, doc)
    schema = doc.get("schema") or []
    if len(schema) != 1:
        raise _fail(path, f"schema must hold exactly one object, found {len(schema)}")
    obj = schema[0]
    props = tuple(_property(path, p) for p in obj.get("properties") or [])
    if not props:
        raise _fail(path, f"schema/0 ({obj.get('name')}): no properties")
    names = [p.name for p in props]
    if len(set(names)) != len(names):
        raise _fail(path, "property names are not unique")
    custom = _custom(doc.get("customProperties"))
    for key in ("landingPath", "format", "dedupeKey"):
        if not custom.get(key):
            raise _fail(path, f"customProperties: missing {key!r}")
    if custom["format"] not in FORMATS:
        raise _fail(path, f"customProperties/format: {custom['format']!r} is not one of {sorted(FORMATS)}")
    dedupe = tuple(custom["dedupeKey"]) if isinstance(custom["dedupeKey"], list) else (custom["dedupeKey"],)
    latest = custom.get("latestWinsBy")
    for col in (*dedupe, *([latest] if latest else [])):
        if col not in names:
            raise _fail(path, f"customProperties: {col!r} (dedupeKey/latestWinsBy) is not a property")
    delivery = custom.get("latestDeliveryWins", False)
    if not isinstance(delivery, bool):
        raise _fail(path, f"customProperties/latestDeliveryWins: {delivery!r} is not true or false")
    if delivery and latest:
        raise _fail(path, "customProperties: latestDeliveryWins and latestWinsBy exclude each other (name one)")
    tracked = custom.get("trackedSince") or []
    if not isinstance(tracked, list):
        raise _fail(path, f"customProperties/trackedSince: {tracked!r} is not a list of properties")
    kinds = {p.name: p.logical_type for p in props}
    for name in tracked:
        if kinds.get(name) != "boolean":
            raise _fail(path, f"customProperties/trackedSince: {name!r} is not a boolean property")
    if tracked and not latest:
        raise _fail(path, "customProperties: trackedSince needs latestWinsBy (the time a version was made)")
    retention = _custom(doc.get("slaProperties")).get("retention")
    description = doc.get("description") or {}
    return Contract(
        dataset=obj["name"],
        path=path,
        version=str(doc.get("version")),
        properties=props,
        landing_path=str(custom["landingPath"]),
        format=str(custom["format"]),
        dedupe_key=dedupe,
        latest_wins_by=latest,
        purge_action=custom.get("purgeAction"),
        retention_days=int(retention) if retention is not None else None,
        data_category=custom.get("dataCategory"),
        legal_basis=custom.get("legalBasis"),
        purpose=description.get("purpose") if isinstance(description, dict) else None,
        latest_delivery_wins=delivery,
        tracked_since=tuple(tracked),
    )


def load_all_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """Every contract in a directory, keyed by dataset name (validated once per process and file state)."""
    directory = Path(directory)
    state = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(directory.glob("*.odcs.yaml")))
    return dict(_load_all(directory, state))


@lru_cache(maxsize=8)
def _load_all(directory: Path, state: tuple) -> tuple[tuple[str, Contract], ...]:
    contracts = {}
    for path in sorted(Path(directory).glob("*.odcs.yaml")):
        contract = load_contract(path)
        contracts[contract.dataset] = contract
    log.debug("loaded %d contracts from %s", len(contracts), directory)
    return tuple(contracts.items())


def centre_datasets() -> set[str]:
    """The contact centre's own datasets (raw table names): its agents and its breach register."""
    return {name for name, contract in load_all_contracts().items() if contract.centre}

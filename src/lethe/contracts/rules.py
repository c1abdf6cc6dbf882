"""Row rules compiled from a contract: one list, used both as DuckDB SQL and as a Great Expectations suite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lethe.contracts.model import Contract, Property

MAX_FIELD_CHARS = 1_048_576  # a field longer than 1 MB is quarantined

EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE_RE = r"^\+[1-9][0-9]{6,14}$"
TYPE_RE = {
    "integer": r"^-?[0-9]+$",
    "number": r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$",
    "boolean": r"^(true|false|TRUE|FALSE|True|False)$",
    "date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "timestamp": (
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
        r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
    ),
}
# types whose text can match TYPE_RE and still not cast (a number too big is inf, a boolean always casts)
VALUE_FAULT = {
    "integer": "out of range",
    "date": "no such date (month 13, day 32, 30 February ...)",
    "timestamp": "no such date or time (month 13, day 32, hour 25 ...)",
}
SQL_TYPE = {
    "string": "varchar",
    "integer": "bigint",
    "number": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "array": "varchar[]",
}


@dataclass(frozen=True)
class Rule:
    """One row rule: a name, the column it reads, why a row fails it, and how to check it."""

    name: str  # e.g. "enum:channel"
    kind: str  # length | required | type | value | enum | format | range | future
    column: str
    reason: str
    regex: str | None = None
    value_set: tuple[str, ...] | None = None
    minimum: float | datetime | None = None
    maximum: float | datetime | None = None

    @property
    def typed(self) -> bool:
        """True when the rule reads the typed value (`<column>__typed`), not the text."""
        return self.kind in ("range", "future", "value")

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the rule reads: the text, the typed value (`<column>__typed`), or both (`value`)."""
        if self.kind == "value":
            return (self.column, self.column + "__typed")
        return (self.column + "__typed",) if self.typed else (self.column,)


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _iso_sql(text: str) -> str:
    """SQL completing an ISO 8601 text that DuckDB's timestamptz cast refuses though TYPE_RE accepts it: a zone
    after minutes without seconds (`09:30Z`), or after a bare date (`2024-01-22Z`)."""
    date, zone = "[0-9]{4}-[0-9]{2}-[0-9]{2}", "(Z|[+-][0-9]{2}(:?[0-9]{2})?)"
    return (f"regexp_replace(regexp_replace({text}, '^({date}[T ][0-9]{{2}}:[0-9]{{2}}){zone}$', '\\1:00\\2'), "
            f"'^({date}){zone}$', '\\1T00:00:00\\2')")


def typed_sql(prop: Property, text: str) -> str:
    """SQL turning a property's normalised text into its logical type (NULL where it does not parse)."""
    if prop.logical_type == "timestamp":
        return f"try_cast(try_cast({_iso_sql(text)} as timestamptz) at time zone 'UTC' as timestamp)"
    if prop.logical_type in ("string", "array"):
        return text
    return f"try_cast({text} as {SQL_TYPE[prop.logical_type]})"


def field(prop: Property) -> str:
    """A property as a quarantine reason names it: with the source's own field name when that differs
    ('last_update_timestamp (LastUpdateTimestamp)'), which is what the person fixing the delivery searches for."""
    return prop.name if prop.physical_name.lower() == prop.name.lower() else f"{prop.name} ({prop.physical_name})"


def _format_rule(prop: Property) -> Rule | None:
    name = field(prop)
    if prop.format == "email":
        return Rule(f"email:{prop.name}", "format", prop.name, f"{name} is not a valid email address", EMAIL_RE)
    if prop.format == "phone":
        return Rule(f"phone:{prop.name}", "format", prop.name, f"{name} is not a phone number that parses to E.164", PHONE_RE)
    if prop.format == "contact_address":
        regex = f"({EMAIL_RE})|({PHONE_RE})"
        return Rule(
            f"address:{prop.name}", "format", prop.name,
            f"{name} is neither a valid email address nor a phone number that parses to E.164", regex,
        )
    return None


def build_rules(contract: Contract, future_limit: datetime) -> list[Rule]:
    """The contract's row rules, in the order a failing row reports them (the first failure is its rule)."""
    rules: list[Rule] = []
    for p in contract.properties:
        if p.logical_type != "array":
            rules.append(Rule(f"length:{p.name}", "length", p.name, f"{field(p)} is longer than 1 MB", maximum=MAX_FIELD_CHARS))
    for p in contract.properties:
        if p.required:
            rules.append(Rule(f"required:{p.name}", "required", p.name, f"required field {field(p)} is missing"))
    for p in contract.properties:
        if p.logical_type in TYPE_RE:
            rules.append(Rule(f"type:{p.name}", "type", p.name, f"{field(p)} is not a valid {p.logical_type}", TYPE_RE[p.logical_type]))
    for p in contract.properties:  # shaped right, yet no such value: month 13, day 32, 30 February, an overflow
        if p.logical_type in VALUE_FAULT:
            rules.append(Rule(f"value:{p.name}", "value", p.name,
                              f"{field(p)} is not a valid {p.logical_type}: {VALUE_FAULT[p.logical_type]}"))
    for p in contract.properties:
        if p.enum:
            rules.append(Rule(f"enum:{p.name}", "enum", p.name, f"{field(p)} is not one of {', '.join(p.enum)}", value_set=p.enum))
        fmt = _format_rule(p)
        if fmt:
            rules.append(fmt)
    for p in contract.properties:
        if p.minimum is not None or p.maximum is not None:
            rules.append(Rule(
                f"range:{p.name}", "range", p.name,
                f"{field(p)} is outside [{p.minimum if p.minimum is not None else ''}, {p.maximum if p.maximum is not None else ''}]",
                minimum=p.minimum, maximum=p.maximum,
            ))
        if p.logical_type == "timestamp" and not p.future_allowed:
            rules.append(Rule(
                f"future:{p.name}", "future", p.name,
                f"{field(p)} is in the future (after {future_limit.isoformat(sep=' ')})", maximum=future_limit,
            ))
    return rules


def _lit(value: object) -> str:
    if isinstance(value, datetime):
        return f"timestamp '{value.isoformat(sep=' ')}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def failing_sql(rule: Rule) -> str:
    """A SQL predicate, true where a row fails the rule (columns `<name>` text and `<name>__typed`)."""
    col = q(rule.column)
    typed = q(rule.column + "__typed")
    if rule.kind == "length":
        return f"coalesce(length({col}) > {rule.maximum}, false)"
    if rule.kind == "required":
        return f"{col} is null"
    if rule.kind in ("type", "format"):
        return f"coalesce(not regexp_matches({col}, {_lit(rule.regex)}), false)"
    if rule.kind == "value":
        return f"({col} is not null and {typed} is null)"
    if rule.kind == "enum":
        values = ", ".join(_lit(v) for v in rule.value_set or ())
        return f"coalesce({col} not in ({values}), false)"
    checks = []
    if rule.minimum is not None:
        checks.append(f"{typed} < {_lit(rule.minimum)}")
    if rule.maximum is not None:
        checks.append(f"{typed} > {_lit(rule.maximum)}")
    return "coalesce(" + " or ".join(checks) + ", false)"

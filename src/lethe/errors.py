"""Errors a user can cause; the CLI prints their message as one line and exits non-zero."""


class LetheError(Exception):
    """Base for every error a user can cause (bad flag, bad file, unknown tenant)."""


class ConfigError(LetheError):
    """A configuration file or setting is invalid."""


class PolicyError(ConfigError):
    """The tenant policy file is invalid."""


class UnknownTenantError(LetheError):
    """A --tenant names no tenant folder."""


class GuardError(LetheError):
    """A purge guard refused the run."""


class IdentityError(LetheError):
    """A data-subject request matches nobody, or more than one person."""


class WarehouseBusyError(LetheError):
    """Another process holds the warehouse (DuckDB allows one writer at a time)."""

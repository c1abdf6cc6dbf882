"""Data contracts (ODCS v3): load and validate `data_contracts/*.odcs.yaml`, and build checks from them."""

from lethe.contracts.model import (
    Contract,
    ContractError,
    Property,
    centre_datasets,
    load_all_contracts,
    load_contract,
)

__all__ = ["Contract", "ContractError", "Property", "centre_datasets", "load_all_contracts", "load_contract"]

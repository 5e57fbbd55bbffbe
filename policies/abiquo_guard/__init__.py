"""Abiquo lab guard: CrossGuard policies that check a stack's resources against the documented intent.

The intent is re-derived from the project's catalog and the lab spec the program puts on its `abiquo:lab:Lab`
component; resources are joined through parents, labels/tags and property dependencies, never through IDs, so
every policy gives the same verdict in preview (unknown IDs) as in update.
"""
from .config import (PACK_NAME, RESOURCE_CHECKS, STACK_CHECKS, build_pack, config_properties, descriptions,
                     initial_config, policies, run_stack_check)

__all__ = ["PACK_NAME", "RESOURCE_CHECKS", "STACK_CHECKS", "build_pack", "config_properties", "descriptions",
           "initial_config", "policies", "run_stack_check"]

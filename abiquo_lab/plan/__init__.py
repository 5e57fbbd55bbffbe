"""Stage 3, the plan: hosts, zones, virtual addresses and concrete flows. Pure Python, no Pulumi."""
from .model import AllowEntry, Flow, Host, Plan, Route, Vip, ZoneNet, EXTERNAL_PREFIX
from .planner import allowlist, build_plan

__all__ = ["AllowEntry", "Flow", "Host", "Plan", "Route", "Vip", "ZoneNet", "EXTERNAL_PREFIX", "allowlist", "build_plan"]

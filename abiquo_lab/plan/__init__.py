"""Stage 3, the plan: hosts, zones, virtual addresses and concrete flows. Pure Python, no Pulumi."""
from .model import EXTERNAL_PREFIX, AllowEntry, Flow, Host, Plan, Published, Route, Runtime, Vip, VipListener, ZoneNet
from .planner import allowlist, build_plan, host_runtime

__all__ = ["AllowEntry", "Flow", "Host", "Plan", "Published", "Route", "Runtime", "Vip", "VipListener", "ZoneNet", "EXTERNAL_PREFIX", "allowlist",
           "build_plan", "host_runtime"]

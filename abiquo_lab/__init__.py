"""Abiquo lab, the core: the documented platform as data and the pure stages that turn a stack into a plan.

contract.py (facts every stage shares) ; catalog/ (what the docs say) -> labspec/ (what a stack asks for)
-> plan/ (hosts, zones, flows). No Pulumi here: components/ renders a plan, policies/ and labctl/ check it.
"""

"""Abiquo lab: the documented platform as data, and the stages that turn it into a lab.

catalog (what the docs say) -> spec (what a stack asks for) -> plan (hosts, zones, flows)
-> components/ (Docker or AWS resources) -> check (policy pack, live verify).
"""

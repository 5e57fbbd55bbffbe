"""The pack in one place: name, the pack-level default enforcement, per-policy overrides and config schemas."""
from __future__ import annotations

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, PolicyPack, ResourceValidationPolicy,
                           StackValidationPolicy)

from . import resource_policies as rp
from . import stack_policies as sp
from .inventory import Inventory, from_policy_resources

PACK_NAME = "abiquo-lab-guard"
DEFAULT_ENFORCEMENT = EnforcementLevel.MANDATORY
# judged-at-update only names what preview cannot know yet: advisory by design (everything known is mandatory)
OVERRIDES: dict[str, EnforcementLevel] = {"judged-at-update": EnforcementLevel.ADVISORY}

FLOW_SCHEMA = {"type": "object", "properties": {"from": {"type": "string"}, "to": {"type": "string"},
                                                "port": {"type": "integer"}, "protocol": {"enum": ["tcp", "udp", "vrrp"]}},
               "required": ["from", "to", "port"]}
SCHEMAS = {
    "required-connections": PolicyConfigSchema(properties={
        "requireRows": {"type": "array", "items": {"type": "string"}, "default": [],
                        "description": "optional catalog rows (e.g. A01) to require as well"}}),
    "nothing-beyond-intent": PolicyConfigSchema(properties={
        "extraAllowedFlows": {"type": "array", "items": FLOW_SCHEMA, "default": [],
                              "description": "exceptions: role-to-role ports allowed beyond the catalog ('*' = any role)"}}),
}

STACK_CHECKS = {
    "required-connections": ("Every required documented connection of the lab is allowed.", sp.required_connections),
    "nothing-beyond-intent": ("Every allowlist entry and security-group rule (in any form: vpc rules, legacy "
                              "SecurityGroupRule, inline ingress/egress, the default group) maps to a documented "
                              "connection or the bootstrap egress; world ingress only on the internet-facing ALB's "
                              "group on its listener ports; no private subnet routed to the internet gateway or "
                              "mapping public IPs; no network ACL letting the world in.", sp.nothing_beyond_intent),
    "layout-completeness": ("The stack holds exactly one abiquo:lab:Lab component whose spec is there, is JSON and plans "
                            "with the project's catalog (and equals the spec in its inputs where both are handed). "
                            "Every container or instance is a planned host with its roles and site (no two the same host), "
                            "together they carry every host the plan places and no more, the catalog's constraints hold "
                            "for the nodes counted (more than one API needs ZooKeeper), and every planned route exists. "
                            "Docker: each container is on exactly its planned networks and addresses, enforces the "
                            "allowlist its label shows (env LAB_ALLOW), adds no capability beyond its roles' runtime; "
                            "each network is internal as planned; its VIP env (LAB_VIPS, LAB_VIP_PROXY) and hosts "
                            "file are the plan's. AWS: each instance carries exactly its roles' groups and the "
                            "bootstrap group; nothing launches machines outside the plan.", sp.layout_completeness),
    "lifecycle-labels": ("Every taggable resource carries the lab, owner and expires-at labels/tags.", sp.lifecycle_labels),
    "judged-at-update": ("Advisory: each item a policy could not judge in preview because its value is not known yet "
                         "(resource and property); it is judged at update.", sp.judged_at_update),
}
RESOURCE_CHECKS = {
    "aws-instance-imdsv2": ("EC2 instances, spot requests, launch templates and launch configurations require "
                            "IMDSv2.", rp.instance_imdsv2),
    "aws-encrypted-volumes": ("Root and EBS volumes of instances, spot requests, launch templates and launch "
                              "configurations, and EBS volumes, are encrypted.", rp.instance_encrypted_volumes),
    "aws-instance-no-public-ip": ("Instances, spot requests, launch templates and launch configurations give no "
                                  "public IP.", rp.instance_no_public_ip),
    "aws-no-public-address": ("No Elastic IP is associated with a lab machine (instance, interface, EIP "
                              "association).", rp.no_public_address),
    "aws-http-redirects-to-https": ("HTTP listeners (aws.lb, aws.alb) redirect to HTTPS; a classic ELB serves no "
                                    "plain HTTP.", rp.http_redirects_to_https),
    "docker-not-privileged": ("Containers are not privileged and do not add ALL capabilities.", rp.container_not_privileged),
    "docker-not-host-network": ("Containers are not on the host network.", rp.container_not_host_network),
    "docker-no-datastore-published": ("No datastore port is published on all interfaces.", rp.no_datastore_published),
    "docker-no-host-access": ("Containers mount no Docker socket (nor a folder holding it), share no host PID/IPC "
                              "namespace and keep seccomp and AppArmor confined.", rp.container_no_host_access),
}


def run_stack_check(check, resources, config, report) -> None:
    """Adapt the SDK's arguments to a plain check. Without a plan (no Lab, two, or a spec that does not plan)
    only layout-completeness (which says why) and judged-at-update run."""
    inventory = Inventory(from_policy_resources(resources))
    if inventory.plan is None and not getattr(check, "without_plan", False):
        return
    check(inventory, config or {}, lambda message, urn=None: report(message, urn))


def _stack_policy(name: str, description: str, check) -> StackValidationPolicy:
    def validate(args, report_violation):
        run_stack_check(check, args.resources, args.get_config(), report_violation)
    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=OVERRIDES.get(name), config_schema=SCHEMAS.get(name))


def _resource_policy(name: str, description: str, check) -> ResourceValidationPolicy:
    def validate(args, report_violation):
        check(args.resource_type, args.props, args.name, lambda message, urn=None: report_violation(message, urn))
    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=OVERRIDES.get(name), config_schema=SCHEMAS.get(name))


def config_properties() -> dict[str, dict]:
    """Every policy's config properties (JSON schema fragments): public, so a driver can check a config first."""
    return {name: dict(SCHEMAS[name].properties) if name in SCHEMAS else {} for name in list(STACK_CHECKS) + list(RESOURCE_CHECKS)}


def descriptions() -> dict[str, str]:
    """Every policy's name and description: the pack's public metadata (labctl's reports name policies with it)."""
    return {name: description for name, (description, _) in {**STACK_CHECKS, **RESOURCE_CHECKS}.items()}


def policies() -> list:
    return ([_stack_policy(n, d, c) for n, (d, c) in STACK_CHECKS.items()]
            + [_resource_policy(n, d, c) for n, (d, c) in RESOURCE_CHECKS.items()])


def initial_config() -> dict:
    """Every policy's level and config defaults, stated explicitly: a config without a level means advisory."""
    config = {}
    for name in list(STACK_CHECKS) + list(RESOURCE_CHECKS):
        entry = {"enforcementLevel": OVERRIDES.get(name, DEFAULT_ENFORCEMENT)}
        for key, schema in (SCHEMAS[name].properties.items() if name in SCHEMAS else []):
            entry[key] = schema.get("default")
        config[name] = entry
    return config


def build_pack() -> PolicyPack:
    return PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=DEFAULT_ENFORCEMENT,
                      initial_config=initial_config(),
                      description="Abiquo lab: the documented connection matrix, required and nothing beyond it")

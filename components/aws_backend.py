"""The AWS renderer: a VPC with subnets per zone of the plan, a security group per role, one ingress rule per
documented flow (referencing the source's group), an internet-facing ALB as the frontend, an internal NLB as each
services VIP, and one private, hardened EC2 instance per host at a fixed address.

Choices (recorded here and in the README; the catalog's `frontend_path` of each role drives the routing):
- The role the catalog exposes on AWS as a load-balancer (the frontend) is the ALB: HTTPS 443 (certificate from config) and HTTP 80 redirecting to HTTPS are the
  only world-facing ports; `/api`, `/am` and `/` are path rules to the API, RS and UI target groups (the plan's
  frontend routes). Flows between the frontend hosts themselves (keepalived VRRP) have no AWS counterpart.
- Addresses are the plan's on AWS too, only moved into the subnets: `aws_addresses` gives every instance a fixed
  primary address in its subnet (and each VIP member a fixed secondary one, and each NLB a fixed address per
  availability zone), known at preview, so the user data carries the same cluster settings as the Docker nodes.
- A services VIP (a VIP with proxy listeners, e.g. `services-vip`) is an internal NLB with its own security group:
  clients' VIP flows become rules on that group, and the members' group admits the VIP group on the listener
  ports (the NLB -> member hop). The NLB's target groups (type "ip") point at each member's secondary address, where
  the member runs the same HAProxy as the Docker VIP holder (one Galera writer, the Redis master, any broker).
  keepalived does not run on AWS (the NLB holds the address), so VRRP has no AWS rule.
- Egress is closed unless the plan needs it: per flow an egress rule to the destination group (or to the world
  on the documented port for flows leaving the lab), plus the configured bootstrap egress on a shared group.
"""
from __future__ import annotations

import ipaddress
import json
import math
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from abiquo_lab import contract
from abiquo_lab.catalog import LOAD_BALANCER
from abiquo_lab.contract import PROTOCOL_NUMBERS, WORLD, port_span
from abiquo_lab.plan import Flow, Host, Plan, Vip

from .nodes import NODE_IMAGE_DIR, NODE_PACKAGES, LabArgs, compact, host_labels, lab_labels, node_env

SSM_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
DEBIAN_OWNER = "136693071363"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True)
class RuleKey:
    """One security-group rule: destination group, source group (or world), protocol and port span."""
    dst_role: str
    src_role: str          # a role, or "world"
    protocol: str
    port: Optional[int]
    port_end: Optional[int]


def rule_key(flow: Flow, balancers: set[str], balanced: set[str] = frozenset()) -> Optional[RuleKey]:
    """The ingress rule that admits a flow on AWS, or None when the flow needs no AWS rule (same host, leaving the
    lab, between the hosts the ALB replaces, or VRRP: on AWS the load balancers hold the VIPs, keepalived does not run).
    A flow to a services VIP (`balanced`: names of the VIPs an NLB stands for) goes on the VIP's own group."""
    if (flow.local or flow.egress or flow.from_outside or flow.protocol == "vrrp"
            or (flow.src_role == flow.dst_role and flow.src_role in balancers)):
        return None
    src = "world" if flow.public else flow.src_role
    dst = flow.dst if flow.dst_kind == "vip" and flow.dst in balanced else flow.dst_role
    return RuleKey(dst, src, flow.protocol, flow.port, flow.port_end if flow.port_end else flow.port)


def ingress_rules(plan: Plan) -> dict[RuleKey, list[Flow]]:
    """Every ingress rule of the lab with the plan flows it admits (each flow maps to exactly one rule)."""
    rules: dict[RuleKey, list[Flow]] = {}
    balancers = plan.exposed_roles(LOAD_BALANCER)
    balanced = {vip.name for vip in plan.balanced_vips()}
    for flow in plan.flows:
        key = rule_key(flow, balancers, balanced)
        if key is not None:
            rules.setdefault(key, []).append(flow)
    return rules


def vip_hop_rules(plan: Plan) -> dict[RuleKey, list[Flow]]:
    """The NLB -> member hop of each services VIP (Docker's proxy hop): the members' group admits the VIP's group on
    each listener port (where the members' proxies listen, and the NLB's health checks ask), with the VIP flows of
    that port as its reason."""
    rules: dict[RuleKey, list[Flow]] = {}
    for vip in plan.balanced_vips():
        for listener in vip.listeners:
            flows = [f for f in plan.flows if f.dst == vip.name and f.protocol == "tcp" and f.port == listener.port]
            rules[RuleKey(vip.role, vip.name, "tcp", listener.port, listener.port)] = flows
    return rules


def egress_rules(plan: Plan) -> dict[tuple, list[Flow]]:
    """(src group, dst group or 'world', protocol, port, port_end) -> flows: what each group may send (a group is a
    role's, or a services VIP's: the NLB sends to the members on the listener ports)."""
    rules: dict[tuple, list[Flow]] = {}
    for key, flows in ingress_rules(plan).items():
        if key.src_role != "world":
            rules.setdefault((key.src_role, key.dst_role, key.protocol, key.port, key.port_end), []).extend(flows)
    for key, flows in vip_hop_rules(plan).items():
        rules.setdefault((key.src_role, key.dst_role, key.protocol, key.port, key.port_end), []).extend(flows)
    for flow in plan.flows:
        if flow.egress and not (flow.local or flow.public or flow.from_outside):
            rules.setdefault((flow.src_role, "world", flow.protocol, flow.port, flow.port_end or flow.port), []).append(flow)
    return rules


def describe(flows: list[Flow], src: str, dst: str, protocol: str) -> str:
    ids = sorted({f.id for f in flows})
    service = (flows[0].service if flows else None) or protocol
    text = " ".join([*ids, f"{src}->{dst} {service}"])
    return text if len(text) <= 255 else text[:252] + "..."


def _port_args(protocol: str, port: Optional[int], port_end: Optional[int]) -> dict:
    if protocol == "vrrp":
        return {"ip_protocol": PROTOCOL_NUMBERS[protocol]}
    return {"ip_protocol": protocol, "from_port": port, "to_port": port_end or port}


# ---- addresses: fixed by the plan, read by the renderer and the user data alike ------------------------------
AWS_RESERVED_HEAD = 4      # AWS keeps a subnet's first four addresses (network, router, DNS, future use) ...
AWS_RESERVED_TAIL = 1      # ... and its last one


def availability_zones(region: str, count: int) -> list[str]:
    return [f"{region}{chr(ord('a') + i)}" for i in range(count)]


def subnet_cidrs(plan: Plan, az_count: int) -> dict[str, list[str]]:
    """Zone network -> its CIDR split across the availability zones, one slice per zone in zone order."""
    bits = math.ceil(math.log2(az_count))
    return {zone.name: [str(c) for c in list(ipaddress.ip_network(zone.cidr).subnets(prefixlen_diff=bits))[:az_count]]
            for zone in plan.zones}


def az_index(plan: Plan, host: Host, az_count: int) -> int:
    """The availability zone of a host: the hosts of one role take them in turn, in plan order."""
    same = [h.name for h in plan.hosts if h.primary == host.primary]
    return same.index(host.name) % az_count


def instance_hosts(plan: Plan) -> list[Host]:
    """The hosts that are EC2 instances (the load-balancer hosts are the ALB)."""
    return [h for h in plan.hosts if h.runtime.exposure != LOAD_BALANCER]


@dataclass(frozen=True)
class AwsAddresses:
    """Every fixed address of the AWS lab."""
    primary: dict[str, str]            # instance host -> its address in its subnet
    proxy: dict[str, str]              # services VIP member -> the secondary address its VIP proxy binds (the NLB's target)
    balancer: dict[str, list[str]]     # services VIP -> the NLB's address in each availability zone's subnet of its zone


def aws_addresses(plan: Plan, az_count: int) -> AwsAddresses:
    """The lab's addresses from the plan alone (so known at preview, no apply()): in each subnet the NLB's address
    comes first (VIP zones), then the instances' primary addresses, then the VIP members' proxy addresses, in plan
    order, from the first address AWS does not reserve. Nothing else in a private subnet takes an address."""
    cidrs = subnet_cidrs(plan, az_count)
    vips = plan.balanced_vips()
    members = {m for vip in vips for m in vip.members}
    claims: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for vip in vips:
        for i in range(len(cidrs[vip.zone])):
            claims.setdefault((vip.zone, i), []).append(("balancer", vip.name))
    hosts = instance_hosts(plan)
    for kind, chosen in (("primary", hosts), ("proxy", [h for h in hosts if h.name in members])):
        for host in chosen:
            claims.setdefault((host.zone, az_index(plan, host, az_count)), []).append((kind, host.name))
    found: dict[str, dict] = {"primary": {}, "proxy": {}, "balancer": {}}
    for (zone, i), wanted in claims.items():
        net = ipaddress.ip_network(cidrs[zone][i])
        usable = net.num_addresses - AWS_RESERVED_HEAD - AWS_RESERVED_TAIL
        if len(wanted) > usable:
            raise contract.InputError(f"backend aws: subnet {net} (zone network {zone}) needs {len(wanted)} fixed addresses, "
                                      f"AWS leaves {usable} usable; give the zone a larger network (address_pool, subnets)")
        for k, (kind, name) in enumerate(wanted):
            address = str(net[AWS_RESERVED_HEAD + k])
            if kind == "balancer":
                found["balancer"].setdefault(name, {})[i] = address
            else:
                found[kind][name] = address
    balancer = {name: [by_az[i] for i in sorted(by_az)] for name, by_az in found["balancer"].items()}
    return AwsAddresses(primary=found["primary"], proxy=found["proxy"], balancer=balancer)


class AwsBackend:
    """The AWS renderer: a VPC, security groups and rules from the plan's flows, the ALB, one instance per host."""

    def __init__(self, name: str, args: LabArgs, opts: pulumi.ResourceOptions):
        self.name, self.args, self.plan = name, args, args.plan
        self.settings = args.spec.spec.aws_settings
        _check_supported(self.plan)                          # before anything is registered
        self.zones = availability_zones(self.settings.region, self.settings.availability_zones)
        self.addresses = aws_addresses(self.plan, len(self.zones))   # fixed, from the plan (also refuses a full subnet)
        self.vips = self.plan.balanced_vips()
        self.balancers = self.plan.exposed_roles(LOAD_BALANCER)
        self.tags = lab_labels(args)
        self.provider = aws.Provider(f"{name}-aws", region=self.settings.region,
                                     default_tags=aws.ProviderDefaultTagsArgs(tags=self.tags), opts=opts)
        self.opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.provider))
        self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.spec.spec.address_pool, enable_dns_support=True,
                               enable_dns_hostnames=True, tags=self._tags(f"{name}-vpc"), opts=self.opts)
        self.subnets = self._subnets()
        self._routing()
        self.groups = {role: self._group(role) for role in self._group_roles()}
        self.groups.update({vip.name: self._vip_group(vip) for vip in self.vips})
        self.bootstrap_group = self._bootstrap_group()
        self._rules()
        self.db_password = random.RandomPassword(f"{name}-db-password", length=24, special=False, opts=self.opts)
        brokers = [h for h in instance_hosts(self.plan) if "rabbitmq" in h.runtime.start]
        self.erlang_cookie = random.RandomPassword(      # the RabbitMQ cluster's shared secret (as on Docker)
            f"{name}-erlang-cookie", length=32, special=False, upper=True, lower=False, numeric=False,
            opts=self.opts) if len(brokers) > 1 else None
        self.profile = self._ssm_profile()
        self.ami = self.settings.ami or aws.ec2.get_ami_output(
            most_recent=True, owners=[DEBIAN_OWNER],
            filters=[aws.ec2.GetAmiFilterArgs(name="name", values=["debian-12-amd64-*"])],
            opts=pulumi.InvokeOutputOptions(provider=self.provider)).id
        self.instances: dict[str, aws.ec2.Instance] = {}
        self.alb = None
        self._endpoints: dict[str, Any] = {}

    # ---- network ---------------------------------------------------------------------------------------
    def _tags(self, name: str, **extra: str) -> dict[str, str]:
        return {**self.tags, "Name": name, **{k: v for k, v in extra.items() if v}}

    def _subnets(self) -> dict[str, list[aws.ec2.Subnet]]:
        """Each zone network's CIDR split across the availability zones; the frontend zone is public (ALB only)."""
        per_zone = {}
        for zone in self.plan.zones:
            per_zone[zone.name] = [aws.ec2.Subnet(
                f"{self.name}-subnet-{zone.name}-{az[-1]}", vpc_id=self.vpc.id, cidr_block=cidr, availability_zone=az,
                map_public_ip_on_launch=False,
                tags=self._tags(f"{self.plan.lab}-{zone.name}-{az[-1]}", **{contract.ZONE: zone.name,
                                contract.TIER: "public" if zone.zone == contract.FRONTEND_ZONE else "private"}),
                opts=self.opts) for cidr, az in zip(subnet_cidrs(self.plan, len(self.zones))[zone.name], self.zones)]
        return per_zone

    def _routing(self) -> None:
        igw = aws.ec2.InternetGateway(f"{self.name}-igw", vpc_id=self.vpc.id, tags=self._tags(f"{self.name}-igw"), opts=self.opts)
        public = aws.ec2.RouteTable(f"{self.name}-rt-public", vpc_id=self.vpc.id, tags=self._tags(f"{self.name}-public"), opts=self.opts)
        aws.ec2.Route(f"{self.name}-rt-public-default", route_table_id=public.id, destination_cidr_block="0.0.0.0/0",
                      gateway_id=igw.id, opts=self.opts)
        public_subnets = self.subnets.get(contract.FRONTEND_ZONE, [])
        for subnet, az in zip(public_subnets, self.zones):
            aws.ec2.RouteTableAssociation(f"{self.name}-rta-frontend-{az[-1]}", subnet_id=subnet.id, route_table_id=public.id,
                                          opts=self.opts)
        nats = self._nat_gateways(public_subnets)
        for i, az in enumerate(self.zones):
            table = aws.ec2.RouteTable(f"{self.name}-rt-private-{az[-1]}", vpc_id=self.vpc.id,
                                       tags=self._tags(f"{self.name}-private-{az[-1]}"), opts=self.opts)
            if nats:
                aws.ec2.Route(f"{self.name}-rt-private-{az[-1]}-default", route_table_id=table.id,
                              destination_cidr_block="0.0.0.0/0", nat_gateway_id=nats[i % len(nats)].id, opts=self.opts)
            for zone, subnets in self.subnets.items():
                if zone != contract.FRONTEND_ZONE:
                    aws.ec2.RouteTableAssociation(f"{self.name}-rta-{zone}-{az[-1]}", subnet_id=subnets[i].id,
                                                  route_table_id=table.id, opts=self.opts)

    def _nat_gateways(self, public_subnets: list) -> list:
        count = {"none": 0, "one": 1, "per_az": len(self.zones)}[self.settings.nat_gateways]
        nats = []
        for i in range(min(count, len(public_subnets))):
            az = self.zones[i][-1]
            eip = aws.ec2.Eip(f"{self.name}-nat-eip-{az}", domain="vpc", tags=self._tags(f"{self.name}-nat-{az}"), opts=self.opts)
            nats.append(aws.ec2.NatGateway(f"{self.name}-nat-{az}", allocation_id=eip.id, subnet_id=public_subnets[i].id,
                                           tags=self._tags(f"{self.name}-nat-{az}"), opts=self.opts))
        return nats

    # ---- security groups and rules --------------------------------------------------------------------
    def _group_roles(self) -> list[str]:
        return sorted({r for h in self.plan.hosts for r in h.roles})

    def _group(self, role: str) -> aws.ec2.SecurityGroup:
        what = f"the {role} load balancer" if role in self.balancers else f"role {role}"
        return aws.ec2.SecurityGroup(f"{self.name}-sg-{role}", vpc_id=self.vpc.id, name=f"{self.plan.lab}-{role}",
                                     description=f"Abiquo lab {self.plan.lab}: {what} (rules from the catalog)",
                                     revoke_rules_on_delete=True, tags=self._tags(f"{self.plan.lab}-{role}", **{contract.ROLE: role}),
                                     opts=self.opts)

    def _vip_group(self, vip: Vip) -> aws.ec2.SecurityGroup:
        """The services VIP's own group, on its NLB: the clients' VIP flows are its ingress rules."""
        return aws.ec2.SecurityGroup(f"{self.name}-sg-{vip.name}", vpc_id=self.vpc.id, name=f"{self.plan.lab}-{vip.name}",
                                     description=f"Abiquo lab {self.plan.lab}: {vip.name}, the {vip.role} VIP's load balancer "
                                                 "(rules from the catalog)",
                                     revoke_rules_on_delete=True, tags=self._tags(f"{self.plan.lab}-{vip.name}", **{contract.ROLE: vip.name}),
                                     opts=self.opts)

    def _bootstrap_group(self) -> aws.ec2.SecurityGroup:
        group = aws.ec2.SecurityGroup(f"{self.name}-sg-bootstrap", vpc_id=self.vpc.id, name=f"{self.plan.lab}-bootstrap",
                                      description=f"Abiquo lab {self.plan.lab}: instance bootstrap egress (packages, SSM)",
                                      revoke_rules_on_delete=True, tags=self._tags(f"{self.plan.lab}-bootstrap"), opts=self.opts)
        for i, entry in enumerate(self.settings.bootstrap_egress):
            cidr, _, port = entry.rpartition(":")
            family = "cidr_ipv6" if ":" in cidr else "cidr_ipv4"
            aws.vpc.SecurityGroupEgressRule(f"{self.name}-bootstrap-egress-{i}", security_group_id=group.id,
                                            ip_protocol="tcp", from_port=int(port), to_port=int(port), **{family: cidr},
                                            description=f"bootstrap egress {entry}", tags=self._tags(f"bootstrap-{i}"),
                                            opts=self.opts)
        return group

    def _rules(self) -> None:
        for key, flows in sorted({**ingress_rules(self.plan), **vip_hop_rules(self.plan)}.items(), key=lambda kv: _sort_key(kv[0])):
            self._ingress(key, flows)
        for (src, dst, protocol, port, port_end), flows in sorted(egress_rules(self.plan).items(), key=lambda kv: str(kv[0])):
            name = f"{self.name}-egress-{src}-to-{dst}-{protocol}-{port_span(port, port_end, 'all')}"
            target = {"cidr_ipv4": "0.0.0.0/0"} if dst == "world" else {"referenced_security_group_id": self.groups[dst].id}
            aws.vpc.SecurityGroupEgressRule(name, security_group_id=self.groups[src].id, **target,
                                            **_port_args(protocol, port, port_end), description=describe(flows, src, dst, protocol),
                                            tags=self._tags(name, **{contract.ROLE: src}), opts=self.opts)

    def _ingress(self, key: RuleKey, flows: list[Flow]) -> None:
        base = f"{self.name}-ingress-{key.dst_role}-from-{key.src_role}-{key.protocol}-{port_span(key.port, key.port_end, 'all')}"
        common = dict(security_group_id=self.groups[key.dst_role].id, **_port_args(key.protocol, key.port, key.port_end),
                      description=describe(flows, key.src_role, key.dst_role, key.protocol))
        if key.src_role == "world":
            for cidr in WORLD:
                family, suffix = ("cidr_ipv6", "v6") if ":" in cidr else ("cidr_ipv4", "v4")
                aws.vpc.SecurityGroupIngressRule(f"{base}-{suffix}", **common, **{family: cidr},
                                                 tags=self._tags(f"{base}-{suffix}", **{contract.ROLE: key.dst_role}), opts=self.opts)
            return
        aws.vpc.SecurityGroupIngressRule(base, **common, referenced_security_group_id=self.groups[key.src_role].id,
                                         tags=self._tags(base, **{contract.ROLE: key.dst_role}), opts=self.opts)

    # ---- instances ------------------------------------------------------------------------------------
    def _ssm_profile(self) -> aws.iam.InstanceProfile:
        assume = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                       "Principal": {"Service": "ec2.amazonaws.com"}}]})
        role = aws.iam.Role(f"{self.name}-instance-role", assume_role_policy=assume, tags=self._tags(f"{self.name}-instance"),
                            opts=self.opts)
        aws.iam.RolePolicyAttachment(f"{self.name}-instance-ssm", role=role.name, policy_arn=SSM_POLICY, opts=self.opts)
        return aws.iam.InstanceProfile(f"{self.name}-instance-profile", role=role.name, tags=self._tags(f"{self.name}-instance"),
                                       opts=self.opts)

    def host(self, resource_name: str, host: Host, opts: pulumi.ResourceOptions):
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.provider))
        if host.runtime.exposure == LOAD_BALANCER:
            return self._frontend(resource_name, host, opts)
        az = az_index(self.plan, host, len(self.zones))
        instance_type = self.settings.instance_types.get(host.primary, self.settings.default_instance_type)
        instance = aws.ec2.Instance(
            resource_name, ami=self.ami, instance_type=instance_type,
            subnet_id=self.subnets[host.zone][az].id,
            private_ip=self.addresses.primary[host.name],                 # fixed: the cluster settings name it
            secondary_private_ips=[self.addresses.proxy[host.name]] if host.name in self.addresses.proxy else None,
            vpc_security_group_ids=[self.groups[r].id for r in host.roles] + [self.bootstrap_group.id],
            associate_public_ip_address=False, iam_instance_profile=self.profile.name,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens="required", http_endpoint="enabled",
                                                                 http_put_response_hop_limit=1),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(encrypted=True, volume_type="gp3", volume_size=20),
            user_data=self._user_data(host),
            user_data_replace_on_change=True,
            tags=self._tags(f"{self.plan.lab}-{host.name}", **host_labels(host)),
            opts=opts)
        self.instances[host.name] = instance
        return instance

    def _user_data(self, host: Host) -> pulumi.Output:
        """The user data as a secret: it carries the database password (and the Erlang cookie on a broker)."""
        cookie = self.erlang_cookie.result if self.erlang_cookie and "rabbitmq" in host.runtime.start else None
        return pulumi.Output.secret(pulumi.Output.all(self.db_password.result, cookie)).apply(
            lambda secrets, h=host: user_data(self.plan, h, secrets[0], self.addresses, len(self.zones), erlang_cookie=secrets[1]))

    # ---- the frontend: one internet-facing ALB -------------------------------------------------------
    def _frontend(self, resource_name: str, host: Host, opts: pulumi.ResourceOptions):
        if self.alb is not None:
            return self.alb                      # every frontend host of the plan is this one ALB on AWS
        self.alb_name = f"{self.name}-frontend-alb"
        self.alb = aws.lb.LoadBalancer(
            self.alb_name, load_balancer_type="application", internal=False,
            subnets=[s.id for s in self.subnets[contract.FRONTEND_ZONE]], security_groups=[self.groups[host.primary].id],
            drop_invalid_header_fields=True, tags=self._tags(f"{self.plan.lab}-alb", **{contract.ROLE: host.primary}),
            idle_timeout=max([r.timeout for r in host.routes if r.timeout] or [60]),   # the ALB's one timeout: the longest route's
            opts=opts)
        self._pending_routes = (host, opts)
        self._endpoints[host.primary] = pulumi.Output.concat("https://", self.alb.dns_name)
        return self.alb

    def finish(self) -> None:
        """Listeners and target groups need every instance: called by the Lab after the role components."""
        for vip in self.vips:
            self._services_vip(vip)
        if self.alb is None:
            return
        host, opts = self._pending_routes
        alb_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self.alb))
        groups = {route.path: self._target_group(route, alb_opts) for route in host.routes}
        default = groups.get("/") or next(iter(groups.values()))
        https = aws.lb.Listener(f"{self.alb_name}-https", load_balancer_arn=self.alb.arn, port=contract.HTTPS_PORT, protocol="HTTPS",
                                ssl_policy=TLS_POLICY, certificate_arn=self.settings.certificate_arn,
                                default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=default.arn)],
                                tags=self._tags(f"{self.plan.lab}-https"), opts=alb_opts)
        aws.lb.Listener(f"{self.alb_name}-http", load_balancer_arn=self.alb.arn, port=contract.HTTP_PORT, protocol="HTTP",
                        default_actions=[aws.lb.ListenerDefaultActionArgs(type="redirect", redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                            port=str(contract.HTTPS_PORT), protocol="HTTPS", status_code="HTTP_301"))],
                        tags=self._tags(f"{self.plan.lab}-http"), opts=alb_opts)
        for priority, route in enumerate(sorted((r for r in host.routes if r.path != "/"), key=lambda r: -len(r.path)), 10):
            aws.lb.ListenerRule(f"{self.alb_name}-rule-{route.path.strip('/')}", listener_arn=https.arn, priority=priority,
                                actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=groups[route.path].arn)],
                                conditions=[aws.lb.ListenerRuleConditionArgs(path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(
                                    values=[route.path, f"{route.path}/*"]))],
                                tags=self._tags(f"{self.plan.lab}-rule-{route.path.strip('/')}"), opts=alb_opts)

    def _target_group(self, route, opts) -> aws.lb.TargetGroup:
        slug = route.path.strip("/") or "root"
        group = aws.lb.TargetGroup(f"{self.alb_name}-tg-{slug}", port=route.port, protocol="HTTP", target_type="instance",
                                   vpc_id=self.vpc.id,
                                   # as fast as the ALB allows (5 s, 2 checks each way), and a short drain: a dead
                                   # UI or API node leaves the group within ~10 s (the Docker frontend also retries)
                                   health_check=aws.lb.TargetGroupHealthCheckArgs(protocol="HTTP", path="/", matcher="200-399",
                                                                                  interval=5, timeout=2, healthy_threshold=2,
                                                                                  unhealthy_threshold=2),
                                   deregistration_delay=5,
                                   tags=self._tags(f"{self.plan.lab}-{slug}", **{contract.ROLE: route.role}), opts=opts)
        for target in route.targets:
            members = self.plan.vip(target).members if self.plan.vip(target) else [target]
            for member in members:
                aws.lb.TargetGroupAttachment(f"{self.alb_name}-tg-{slug}-{member}", target_group_arn=group.arn,
                                             target_id=self.instances[member].id, port=route.port, opts=opts)
        return group

    # ---- a services VIP: one internal NLB --------------------------------------------------------------
    def _services_vip(self, vip: Vip) -> None:
        """The VIP as an internal NLB at fixed addresses in the VIP zone's subnets (cross-zone, so every NLB node reaches
        every member), a TCP listener per VIP port forwarding to the members' proxies (their secondary addresses),
        which choose as the Docker VIP holder's does: one Galera writer, the Redis master, any broker."""
        name = f"{self.name}-{vip.name}-nlb"
        nlb = aws.lb.LoadBalancer(
            name, load_balancer_type="network", internal=True, security_groups=[self.groups[vip.name].id],
            subnet_mappings=[aws.lb.LoadBalancerSubnetMappingArgs(subnet_id=subnet.id, private_ipv4_address=address)
                             for subnet, address in zip(self.subnets[vip.zone], self.addresses.balancer[vip.name])],
            enable_cross_zone_load_balancing=True,
            tags=self._tags(f"{self.plan.lab}-{vip.name}", **{contract.ROLE: vip.name}), opts=self.opts)
        nlb_opts = pulumi.ResourceOptions.merge(self.opts, pulumi.ResourceOptions(parent=nlb))
        for listener in vip.listeners:
            slug = f"{vip.name}-{listener.port}"
            group = aws.lb.TargetGroup(
                f"{name}-tg-{listener.port}", port=listener.port, protocol="TCP", target_type="ip", vpc_id=self.vpc.id,
                # as fast as an NLB allows (5 s, 2 checks each way) and a short drain that closes what is left: a dead
                # member's proxy leaves within ~10 s (the proxies themselves follow the writer/master within ~2 s)
                health_check=aws.lb.TargetGroupHealthCheckArgs(protocol="TCP", port="traffic-port", interval=5, timeout=2,
                                                               healthy_threshold=2, unhealthy_threshold=2),
                deregistration_delay=5, connection_termination=True,
                preserve_client_ip="false",      # the members see the NLB as the source: the hop rule admits the VIP's group
                tags=self._tags(f"{self.plan.lab}-{slug}", **{contract.ROLE: vip.role}), opts=nlb_opts)
            for member in vip.members:
                aws.lb.TargetGroupAttachment(
                    f"{name}-tg-{listener.port}-{member}", target_group_arn=group.arn, target_id=self.addresses.proxy[member],
                    port=listener.port,
                    opts=pulumi.ResourceOptions.merge(nlb_opts, pulumi.ResourceOptions(depends_on=[self.instances[member]])))
            aws.lb.Listener(f"{name}-{listener.port}", load_balancer_arn=nlb.arn, port=listener.port, protocol="TCP",
                            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)],
                            tags=self._tags(f"{self.plan.lab}-{slug}"), opts=nlb_opts)

    def endpoints(self) -> dict[str, Any]:
        return dict(self._endpoints)

    def host_addresses(self) -> dict[str, str]:
        """The instances' fixed addresses (the load-balancer hosts are the ALB: no address of their own)."""
        return dict(self.addresses.primary)


def _sort_key(key: RuleKey) -> tuple:
    return (key.dst_role, key.src_role, key.protocol, key.port or 0)


def _check_supported(plan: Plan) -> None:
    """Only the load balancer faces the world on AWS. The lab spec refuses anything else first (catalog: exposure);
    this guards the renderer itself, flow by flow, so no rule ever opens another group to the world."""
    balancers = plan.exposed_roles(LOAD_BALANCER)           # world rules go on the destination role's group
    unexposed = sorted({f"{f.id} → {f.dst_role}" for f in plan.flows if f.public and f.dst_role not in balancers})
    if unexposed:
        raise contract.InputError(f"backend aws: public flow(s) {', '.join(unexposed)} would open a host other than the "
                                  "load balancer to the world; only roles the catalog exposes as a load-balancer are public there")


NODE_FILES = ("entrypoint.sh", "lab-agent", "lab-health", "lab-galera-check")
AWS_ALLOW = [["tcp", "any", "1-65535", "sg"], ["udp", "any", "1-65535", "sg"]]   # the security groups are the allowlist


def aws_view(plan: Plan, addresses: AwsAddresses) -> Plan:
    """The plan as the AWS instances see it: each instance on its one subnet, at its fixed address."""
    hosts = [h.model_copy(update={"address": addresses.primary[h.name], "interfaces": {h.zone: addresses.primary[h.name]}})
             if h.name in addresses.primary else h for h in plan.hosts]
    return plan.model_copy(update={"hosts": hosts})


def aws_node_env(plan: Plan, host: Host, addresses: AwsAddresses) -> dict[str, str]:
    """The node settings on AWS: node_env of the plan at the AWS addresses, the same as the Docker node's but for
    (1) the addresses, (2) the VIP proxy binding the member's own secondary address (the NLB's target) instead of the
    VIP's, and (3) no VIP holder: the NLB is the VIP, so keepalived (LAB_VIPS and its start hook) does not run."""
    view = aws_view(plan, addresses)
    env = node_env(view, view.host(host.name), AWS_ALLOW)
    holders = {vip.holder for vip in plan.vips_of(host.name)}
    env["LAB_START"] = " ".join(hook for hook in host.runtime.start if hook not in holders)
    env.pop("LAB_VIPS", None)
    if "LAB_VIP_PROXY" in env:
        bind = addresses.proxy.get(host.name)
        env["LAB_VIP_PROXY"] = compact([[bind, *row[1:]] for row in json.loads(env["LAB_VIP_PROXY"])] if bind else [])
    return env


def host_entries(plan: Plan, host: Host, addresses: AwsAddresses, az_count: int) -> dict[str, str]:
    """Name -> address for /etc/hosts: its cluster peers (RabbitMQ names its nodes by host name) and each services VIP
    (its NLB's address in the host's availability zone), as Docker's DNS and hosts entries give them."""
    peers = {h.name for role in host.roles if len(plan.hosts_with(role)) > 1 for h in plan.hosts_with(role)}
    names = {name: addresses.primary[name] for name in sorted(peers) if name in addresses.primary}
    az = az_index(plan, host, az_count)
    names.update({vip.name: found[az % len(found)] for vip in plan.balanced_vips()
                  if (found := addresses.balancer.get(vip.name))})
    return names


def network_script(host: Host, hosts: dict[str, str], addresses: AwsAddresses) -> str:
    """Run before the node service at every boot: the plan's host name, the hosts entries, and the proxy's secondary
    address on the instance's interface (EC2 assigns it; Debian does not configure it)."""
    lines = ["#!/bin/sh", "set -eu", f"hostnamectl set-hostname {host.name}",
             # rewritten in place (not sed -i: /etc/hosts may be a mount point, as in a container)
             "{ grep -v '# abiquo-lab$' /etc/hosts || true; } > /etc/hosts.abiquo-lab",
             "cat /etc/hosts.abiquo-lab > /etc/hosts && rm -f /etc/hosts.abiquo-lab"]
    lines += [f"echo '{address} {name} # abiquo-lab' >> /etc/hosts" for name, address in sorted(hosts.items())]
    if host.name in addresses.proxy:
        lines += ["sysctl -qw net.ipv4.ip_nonlocal_bind=1",
                  f"ip addr replace {addresses.proxy[host.name]}/32 dev \"$(ip -o route show default | awk '{{print $5; exit}}')\""]
    return "\n".join(lines) + "\n"


def user_data(plan: Plan, host: Host, db_password: str, addresses: AwsAddresses, az_count: int,
              erlang_cookie: Optional[str] = None) -> str:
    """cloud-init: the same node software, entrypoint and role agent as the Docker lab, configured from the plan at
    the AWS addresses (aws_node_env). On AWS the security groups are the allowlist, so the node's own nftables list
    admits everything. cloud-init keeps its hands off the host name and /etc/hosts (the network script sets them)."""
    import base64
    import gzip
    env = {**aws_node_env(plan, host, addresses), "LAB_DB_PASSWORD": db_password,
           **({"LAB_ERLANG_COOKIE": erlang_cookie} if erlang_cookie else {})}
    files = "\n".join(
        f"echo {base64.b64encode(gzip.compress((NODE_IMAGE_DIR / f).read_bytes(), mtime=0)).decode()} | base64 -d | gunzip "
        f"> /usr/local/bin/{f} && chmod 0755 /usr/local/bin/{f}" for f in NODE_FILES)
    lines = "\n".join(f"{k}={json.dumps(v)}" for k, v in env.items())
    return ("#!/bin/bash\nset -euo pipefail\n"
            "printf 'preserve_hostname: true\\nmanage_etc_hosts: false\\n' > /etc/cloud/cloud.cfg.d/99-abiquo-lab.cfg\n"
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
            f"{' '.join(NODE_PACKAGES)}\n"
            f"{files}\n"
            f"cat > /usr/local/sbin/abiquo-lab-network <<'NET'\n{network_script(host, host_entries(plan, host, addresses, az_count), addresses)}NET\n"
            "chmod 0755 /usr/local/sbin/abiquo-lab-network\n"
            f"install -m 0600 /dev/null /etc/abiquo-lab.env && cat > /etc/abiquo-lab.env <<'ENV'\n{lines}\nENV\n"
            "cat > /etc/systemd/system/abiquo-lab-node.service <<'UNIT'\n[Unit]\nDescription=Abiquo lab node\n"
            "Wants=network-online.target\nAfter=network-online.target\n"
            "[Service]\nEnvironmentFile=/etc/abiquo-lab.env\nExecStartPre=/usr/local/sbin/abiquo-lab-network\n"
            "ExecStart=/usr/local/bin/entrypoint.sh\nRestart=always\n"
            "[Install]\nWantedBy=multi-user.target\nUNIT\n"
            "systemctl daemon-reload && systemctl enable --now abiquo-lab-node.service\n")

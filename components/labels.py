"""Label keys: the single truth of which lab owns a Docker object (and the tag keys on AWS).

Teardown, inspection and the reaper work from these labels alone, without the stack file.
"""
PREFIX = "abiquo-lab"
LAB = f"{PREFIX}.lab"
STACK = f"{PREFIX}.stack"
ROLE = f"{PREFIX}.role"
ROLES = f"{PREFIX}.roles"
HOST = f"{PREFIX}.host"
ZONE = f"{PREFIX}.zone"
DATACENTER = f"{PREFIX}.datacenter"
REGION = f"{PREFIX}.region"
OWNER = f"{PREFIX}.owner"
EXPIRES_AT = f"{PREFIX}.expires-at"
TTL = f"{PREFIX}.ttl"
ALLOWLIST = f"{PREFIX}.allowlist"
ROUTES = f"{PREFIX}.routes"
MANAGED = f"{PREFIX}.managed"
MANAGED_BY = f"{PREFIX}.managed-by"       # "pulumi" (a stack) or "realize" (labctl realize, no Pulumi state)
LIFECYCLE = (LAB, OWNER, EXPIRES_AT)

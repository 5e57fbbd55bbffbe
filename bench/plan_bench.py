"""Plan time for 1, 4, 16 and 64 datacenters (HA layout). Prints figures; asserts nothing.

    python bench/plan_bench.py
"""
import statistics
import time

from abiquo_lab.catalog import default_catalog
from abiquo_lab.plan import build_plan
from abiquo_lab.labspec import check_spec


def config(dcs: int) -> dict:
    return {"name": "bench", "backend": "docker", "layout": "ha", "datacenters": [f"dc{i}" for i in range(dcs)],
            "regions": ["eu"], "address_pool": "10.64.0.0/14" if dcs > 200 else "10.64.0.0/16"}


def main() -> None:
    default_catalog()
    print(f"{'datacenters':>11} {'hosts':>6} {'flows':>7} {'median ms':>10} {'ms per dc':>10}")
    for dcs in (1, 4, 16, 64):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            plan = build_plan(check_spec(config(dcs)))
            times.append((time.perf_counter() - start) * 1000)
        med = statistics.median(times)
        print(f"{dcs:>11} {len(plan.hosts):>6} {len(plan.flows):>7} {med:>10.1f} {med / dcs:>10.2f}")


if __name__ == "__main__":
    main()

"""Mocked preview of the aws-ha stack at 4 and 64 datacenters (and 16): time and resources. Prints; asserts nothing.

    venv/bin/python bench/aws_preview_bench.py
"""
import time


from labctl.preview import record_program
from abiquo_lab.labspec import read_stack_config
from abiquo_lab.labspec import STACKS_DIR
from components.program import main as program


def config(dcs: int) -> dict:
    base = read_stack_config("aws-ha", STACKS_DIR)
    return {**base, "datacenters": [f"dc{i}" for i in range(dcs)], "address_pool": "10.64.0.0/14" if dcs > 32 else "10.64.0.0/16"}


def main() -> None:
    print(f"{'datacenters':>11} {'resources':>9} {'seconds':>8} {'ms/resource':>11}")
    for dcs in (4, 16, 64):
        start = time.perf_counter()
        recording = record_program("bench", config(dcs), program, preview=True)
        seconds = time.perf_counter() - start
        print(f"{dcs:>11} {len(recording.records):>9} {seconds:>8.2f} {1000 * seconds / len(recording.records):>11.2f}")


if __name__ == "__main__":
    main()

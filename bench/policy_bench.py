"""AnalyzeStack over gRPC for the HA stacks at 4 and 64 datacenters (Docker and AWS). Prints; asserts nothing.

    venv/bin/python bench/policy_bench.py

Goal (issue 5): <= 1 s at 64 datacenters, and no join quadratic in the number of rules.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from abiquo_lab.check.analyzer import PackProcess, analyze_requests, stack_request  # noqa: E402
from abiquo_lab.preview import record_program  # noqa: E402
from abiquo_lab.spec import read_stack_config  # noqa: E402
from abiquo_lab.spec.load import STACKS_DIR  # noqa: E402
from components.program import main as program  # noqa: E402


def recording(stack: str, dcs: int):
    config = {**read_stack_config(stack, STACKS_DIR), "datacenters": [f"dc{i}" for i in range(dcs)],
              "address_pool": "10.64.0.0/14" if dcs > 32 else "10.64.0.0/16"}
    return record_program(f"bench-{stack}", config, program, preview=True)


def main() -> None:
    print(f"{'stack':<10} {'dcs':>4} {'resources':>9} {'AnalyzeStack s':>14} {'all Analyze s':>13}")
    with PackProcess() as pack:
        pack.configure(pack.info())
        for stack in ("docker-ha", "aws-ha"):
            for dcs in (4, 16, 64):
                rec = recording(stack, dcs)
                request, each = stack_request(rec), analyze_requests(rec)     # built as labctl check builds them
                start = time.perf_counter()
                response = pack.stub.AnalyzeStack(request)
                stack_s = time.perf_counter() - start
                start = time.perf_counter()
                for single in each:
                    pack.stub.Analyze(single)
                each_s = time.perf_counter() - start
                assert not response.diagnostics, response.diagnostics[:1]
                print(f"{stack:<10} {dcs:>4} {len(rec.records):>9} {stack_s:>14.3f} {each_s:>13.3f}")


if __name__ == "__main__":
    main()

"""AnalyzeStack over gRPC for the HA stacks at 4 and 64 datacenters (Docker and AWS). Prints; asserts nothing.

    venv/bin/python bench/policy_bench.py

Goal (issue 5): <= 1 s at 64 datacenters, and no join quadratic in the number of rules.
"""
import time


from labctl.check.analyzer import PackProcess, analyze_requests, stack_request
from labctl.preview import record_program
from abiquo_lab.labspec import read_stack_config
from abiquo_lab.labspec import STACKS_DIR
from components.program import main as program


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

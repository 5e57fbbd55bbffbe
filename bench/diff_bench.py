"""Time of `labctl diff` between two revisions: docker-ha and aws-ha against a base revision (default HEAD), and a
docker-ha / aws-ha at 64 datacenters against the shipped two. Prints figures; asserts nothing.

    python bench/diff_bench.py [REF]

Each diff evaluates both sides in their own subprocess (plan, offline preview under mocks, and the policy pack on
the head), so the time is mostly the two recordings and the pack."""
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from labctl import diff

ROOT = Path(__file__).resolve().parents[1]


def timed(base: str, stacks_dir: Path, stack: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="diff-bench-") as work:
        start = time.perf_counter()
        result = diff.run(base, stacks_dir, stack, False, Path(work))
        return time.perf_counter() - start, result["stacks"][stack]


def wide(stacks_dir: Path, stack: str, datacenters: int) -> None:
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    names = ", ".join(f"dc{i}" for i in range(1, datacenters + 1))
    path.write_text(re.sub(r"datacenters: \[[^\]]*\]", f"datacenters: [{names}]", path.read_text()))


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    print(f"{'stack':<10} {'datacenters':>11} {'seconds':>8} {'flows +/-/~':>12} {'hosts +/-':>10} {'rules +/-':>10}")
    with tempfile.TemporaryDirectory(prefix="diff-bench-stacks-") as folder:
        stacks = Path(folder)
        for source in (ROOT / "stacks").glob("Pulumi.*.yaml"):
            shutil.copy(source, stacks / source.name)
        for dcs in (2, 64):
            for stack in ("docker-ha", "aws-ha"):
                if dcs != 2:
                    wide(stacks, stack, dcs)
                seconds, s = timed(base, stacks, stack)
                print(f"{stack:<10} {dcs:>11} {seconds:>8.1f} "
                      f"{len(s['added']):>4}/{len(s['removed'])}/{len(s['changed']):<3} "
                      f"{len(s['hosts']['added']):>5}/{len(s['hosts']['removed']):<4} "
                      f"{len(s['rules']['added']):>5}/{len(s['rules']['removed']):<4}")


if __name__ == "__main__":
    main()

"""The pull-request workflow's own `run:` scripts, run the way the GitHub runner runs them: a failing `labctl check`
fails its step, even inside a pipeline (`| tee`)."""
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "policy.yml"
# How the runner (ubuntu) turns `shell:` into a command line (GitHub Actions docs, "jobs.<job_id>.steps[*].shell")
SHELLS = {None: ["bash", "-e", "{0}"], "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"],
          "sh": ["sh", "-e", "{0}"]}


def _steps():
    flow = yaml.safe_load(WORKFLOW.read_text())
    default = (flow.get("defaults") or {}).get("run", {}).get("shell")
    for job_name, job in flow["jobs"].items():
        job_default = (job.get("defaults") or {}).get("run", {}).get("shell", default)
        for step in job["steps"]:
            if "run" in step:
                yield job_name, step, step.get("shell", job_default)


def _run(script: str, shell, workdir: Path, labctl_exit: int) -> int:
    fake = workdir / "venv" / "bin" / "labctl"
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_text(f"#!/bin/sh\necho '| check | result |'\nexit {labctl_exit}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    path = workdir / "step.sh"
    path.write_text(script)
    command = [part.replace("{0}", str(path)) for part in SHELLS[shell]]
    env = dict(os.environ, GITHUB_STEP_SUMMARY=str(workdir / "summary.md"))
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True).returncode


def test_a_failing_check_fails_its_step_through_the_pipeline(tmp_path):
    checks = [(job, step, shell) for job, step, shell in _steps()
              if "labctl check" in step["run"] and "|| true" not in step["run"]]
    assert checks, "the workflow runs labctl check"
    for job, step, shell in checks:
        assert _run(step["run"], shell, tmp_path, labctl_exit=1) != 0, (job, step.get("name"), shell)
        assert _run(step["run"], shell, tmp_path, labctl_exit=0) == 0, (job, step.get("name"), shell)
        assert "check |" in (tmp_path / "summary.md").read_text()          # the job summary still gets the table


def test_the_same_step_under_the_runners_old_default_shell_would_pass_a_violation(tmp_path):
    """Why the workflow sets `shell: bash`: under the default `bash -e`, `labctl check | tee` takes tee's status."""
    step = next(step for _, step, _ in _steps() if "| tee" in step["run"])
    assert _run(step["run"], None, tmp_path, labctl_exit=1) == 0

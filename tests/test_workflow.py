"""The pull-request workflow's own `run:` scripts, run the way the GitHub runner runs them: a failing `labctl check`
fails its step, even inside a pipeline (`| tee`); the `labctl diff` step, run with the real labctl in a repository
whose last commit widens access, fails the job and still writes the diff to the job summary."""
import os
import sys
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


# ---- the diff step, with the real labctl on a real change ----------------------------------------------------------
def _diff_steps():
    found = [(job, step, shell) for job, step, shell in _steps() if "labctl diff" in step["run"]]
    assert found, "the workflow runs labctl diff"
    return found


def _pull_request(tmp_path: Path, change) -> Path:
    """A repository whose first commit is this project and whose second applies `change`: a pull request's head,
    with venv/bin/labctl running that checkout's own code."""
    from project_copy import copy_project
    repo = copy_project(tmp_path / "pr")
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "base"], check=True)
    change(repo)
    subprocess.run(git + ["commit", "-qam", "change"], check=True)
    labctl = repo / "venv" / "bin" / "labctl"
    labctl.parent.mkdir(parents=True)
    labctl.write_text(f'#!/bin/sh\nPYTHONPATH="{repo}:{repo}/policies" exec "{sys.executable}" -m labctl "$@"\n')
    labctl.chmod(labctl.stat().st_mode | stat.S_IEXEC)
    return repo


def _run_step(step: dict, shell, repo: Path) -> subprocess.CompletedProcess:
    base = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD~1"], capture_output=True, text=True, check=True)
    script = repo / "step.sh"
    script.write_text(step["run"])
    command = [part.replace("{0}", str(script)) for part in SHELLS[shell]]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(BASE_SHA=base.stdout.strip(), GITHUB_STEP_SUMMARY=str(repo / "summary.md"))   # as the step's env: sets it
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)


def test_a_change_that_widens_access_fails_the_diff_step(tmp_path):
    from project_copy import widen_allowlists
    repo = _pull_request(tmp_path, widen_allowlists)
    for job, step, shell in _diff_steps():
        assert "BASE_SHA" in step["run"] and "pull_request.base.sha" in str(step.get("env"))
        done = _run_step(step, shell, repo)
        assert done.returncode != 0, (job, step.get("name"), done.stdout[-2000:], done.stderr[-2000:])
        summary = (repo / "summary.md").read_text()
        assert "## Network diff against" in summary and "**FAIL: the head opens something beyond its intent" in summary
        assert "allows 0.0.0.0/0 22/tcp" in summary and "Traceback" not in done.stderr


def test_a_change_within_intent_passes_the_diff_step_with_the_diff_in_the_summary(tmp_path):
    def add_datacenter(repo: Path) -> None:
        path = repo / "stacks" / "Pulumi.docker-ha.yaml"
        path.write_text(path.read_text().replace("datacenters: [dc1, dc2]", "datacenters: [dc1, dc2, dc3]"))
    repo = _pull_request(tmp_path, add_datacenter)
    for job, step, shell in _diff_steps():
        done = _run_step(step, shell, repo)
        assert done.returncode == 0, (job, step.get("name"), done.stdout[-2000:], done.stderr[-2000:])
        summary = (repo / "summary.md").read_text()
        assert "| docker-ha | added | host | rs-dc3 |" in summary and "**ok: every change stays within" in summary

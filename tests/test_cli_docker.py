"""labctl's Docker commands on a real engine, where no lab runs: clear errors, no traceback."""
import pytest

from labctl.cli import main as labctl

pytestmark = [pytest.mark.docker]


def test_verify_without_a_running_lab_says_how_to_build_it(docker_client, tmp_path, capsys):
    import yaml
    (tmp_path / "Pulumi.nolab.yaml").write_text(yaml.safe_dump({"config": {"abiquo-lab:lab": {
        "name": "nolab-x1", "backend": "docker", "layout": "monolithic", "address_pool": "10.252.0.0/16"}}}))
    assert labctl(["--stacks-dir", str(tmp_path), "verify", "--stack", "nolab"]) == 1
    err = capsys.readouterr().err
    assert "lab 'nolab-x1' has no containers on this engine" in err and "labctl realize --stack nolab" in err
    assert labctl(["--stacks-dir", str(tmp_path), "teardown", "--stack", "nolab"]) == 0
    assert "removed 0 containers, 0 networks" in capsys.readouterr().out


def test_teardown_refuses_a_pulumi_made_lab_unless_forced(docker_client, capsys):
    import uuid
    lab = f"pl{uuid.uuid4().hex[:6]}"
    labels = {"abiquo-lab.managed": "true", "abiquo-lab.lab": lab, "abiquo-lab.managed-by": "pulumi"}
    box = docker_client.containers.create("debian:bookworm-slim", ["true"], name=f"{lab}-api-1", labels=labels)
    try:
        assert labctl(["teardown", "--lab", lab]) == 1
        assert "was made by Pulumi" in capsys.readouterr().err
        assert docker_client.containers.get(box.id)
        assert labctl(["teardown", "--lab", lab, "--force"]) == 0
        assert not docker_client.containers.list(all=True, filters={"label": f"abiquo-lab.lab={lab}"})
    finally:
        for c in docker_client.containers.list(all=True, filters={"label": f"abiquo-lab.lab={lab}"}):
            c.remove(force=True)

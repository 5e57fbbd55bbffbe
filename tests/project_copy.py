"""A copy of the project's files as they are in the working tree (tracked and new, not ignored): a checkout a test
may change without touching the real one."""
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_project(dest: Path) -> Path:
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file() and not name.startswith("venv/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def widen_allowlists(project: Path) -> None:
    """A renderer change nobody asked for: every container's allowlist also admits the world on 22/tcp."""
    nodes = project / "components" / "nodes.py"
    text = nodes.read_text()
    assert "for e in entries]\n" in text, "components/nodes.py changed: update widen_allowlists"
    nodes.write_text(text.replace("for e in entries]\n", 'for e in entries] + [["tcp", "0.0.0.0/0", "22", "A12"]]\n', 1))


def widen_security_groups(project: Path) -> None:
    """A renderer change nobody asked for: every role-to-role ingress rule on AWS opens all TCP/UDP ports."""
    backend = project / "components" / "aws_backend.py"
    text = backend.read_text()
    old = "**_port_args(key.protocol, key.port, key.port_end),"
    assert old in text, "components/aws_backend.py changed: update widen_security_groups"
    backend.write_text(text.replace(old, "**_port_args(key.protocol, 1, 65535),", 1))

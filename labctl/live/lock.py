"""One labctl at a time on a lab: `realize` and `teardown` hold the lab's lock (a file lock, released by the kernel
when the process ends, however it ends), so a second one is refused instead of racing the first."""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from abiquo_lab.contract import LabError, labctl_home


def lock_dir() -> Path:
    return labctl_home() / "locks"                 # where labctl keeps its files (ABIQUO_LAB_HOME)


@contextlib.contextmanager
def lab_lock(lab: str, what: str):
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{lab}.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another labctl"
            raise LabError(f"lab {lab!r} is busy: {holder}; wait for it to end (its lock: {path})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} is running labctl {what}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)

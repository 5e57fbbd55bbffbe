"""The Abiquo lab policy pack: only constructs the PolicyPack. Policies live in abiquo_guard/."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):                 # abiquo_guard, and the project's catalog (one source of truth)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from abiquo_guard import build_pack  # noqa: E402

build_pack()

"""The Abiquo lab policy pack: only constructs the PolicyPack. Policies live in abiquo_guard/.

abiquo_guard and the project's core (abiquo_lab: the catalog, one source of truth) are installed packages:
requirements.txt installs the project (`-e ..`) into the pack's virtualenv, and the project's own set-up installs
both into its virtualenv.
"""
from abiquo_guard import build_pack

build_pack()

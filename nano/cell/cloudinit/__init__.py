"""
cloud-init NoCloud seed ISOs: one per instance, attached as a CD-ROM,
with the instance id, host name, administrator and password hash,
data disk and root disk settings, and a static address when the address
pool's provider is ``cloudinit``.
"""

from ._checks import DEFAULT_DATA_PATH
from ._drive import (
    SeedStore,
    add_seed_drive,
    data_devices,
    remove_seed,
    seed_path,
    wants_seed,
)
from ._errors import InvalidSeed, SeedError
from ._password import generate_password, hash_password
from ._rebuild import rebuild_seed
from ._seed import SEED_LABEL, build_seed, check_seed

__all__ = [
    "DEFAULT_DATA_PATH",
    "SEED_LABEL",
    "InvalidSeed",
    "SeedError",
    "SeedStore",
    "add_seed_drive",
    "build_seed",
    "check_seed",
    "data_devices",
    "generate_password",
    "hash_password",
    "rebuild_seed",
    "remove_seed",
    "seed_path",
    "wants_seed",
]

"""
cloud-init NoCloud seed ISOs: one per instance, attached as a CD-ROM,
with the instance id, host name, administrator and password hash,
data disk and root disk settings, and a static address when the address
pool's provider is ``cloudinit``.
"""

from ._checks import DEFAULT_DATA_PATH
from ._errors import InvalidSeed, SeedError
from ._password import generate_password, hash_password
from ._seed import SEED_LABEL, build_seed

__all__ = [
    "DEFAULT_DATA_PATH",
    "SEED_LABEL",
    "InvalidSeed",
    "SeedError",
    "build_seed",
    "generate_password",
    "hash_password",
]

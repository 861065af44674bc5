"""Rebuild an instance's seed ISO with another administrator or password."""

from . import _checks
from ._documents import admin_of, replace_admin
from ._errors import SeedError
from ._iso import read_iso, write_iso
from ._password import generate_password, hash_password
from ._seed import SEED_LABEL


def rebuild_seed(path, admin_name=None, admin_secret=None):
    """
    Replace the administrator or password in the seed ISO at ``path``,
    keeping its instance-id, host name, network and disk settings, which
    the ISO itself is the record of.

    cloud-init sets users and passwords once per instance-id, so the
    new password reaches a guest that has booted from the seed before
    only when cloud-init runs again, as after its system disk is reset.

    :param admin_name: the new administrator, or ``None`` to keep it
        (``root`` for a seed that sets none).
    :param admin_secret: the new password, ``""`` for a random one, or
        ``None`` to keep the current hash (a random password for a seed
        that sets none).
    :return: the new password, or ``None`` when it was kept.
    :raises InvalidSeed: a new value is invalid; the ISO is unchanged.
    :raises SeedError: the ISO is missing, unreadable or not a seed.
    """
    label, files = read_iso(path)
    if label != SEED_LABEL or "user-data" not in files:
        raise SeedError(
            f"invalid seed ISO {path}: no cidata volume with user-data",
            str(path),
        )
    text = files["user-data"].decode("utf-8")
    name, password_hash = admin_of(text)
    if admin_name is not None:
        name = _checks.check_admin_name(admin_name)
    if name is None:
        name = "root"
    if password_hash is None and admin_secret is None:
        admin_secret = ""
    password = None
    if admin_secret is not None:
        password = _checks.check_admin_secret(admin_secret)
        password = password or generate_password()
        password_hash = hash_password(password)
    files["user-data"] = replace_admin(text, name, password_hash).encode()
    write_iso(path, SEED_LABEL, files)
    return password

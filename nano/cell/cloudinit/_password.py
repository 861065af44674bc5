"""Administrator passwords: random ones, and their SHA-512 crypt hashes."""

import secrets
import string

from passlib.hash import sha512_crypt

#: Length of a generated password: 12 characters out of 56 give about 69
#: bits of entropy.
PASSWORD_LENGTH = 12

# Letters and digits without the ones that are easily misread
# (0/O, 1/l/I), since people type these passwords from a screen.
_ALPHABET = "".join(
    c for c in string.ascii_letters + string.digits if c not in "0O1lIo"
)

#: SHA-512 crypt rounds: 20 times the glibc default of 5000, because the
#: hash lands in the guest's /etc/shadow and in the seed ISO. libpass
#: took about 50 ms for one hash on a 2-core test machine.
HASH_ROUNDS = 100_000


def generate_password(length=PASSWORD_LENGTH):
    """
    Generate a random password with the :mod:`secrets` module.

    :param length: the number of characters, 10 or more.
    """
    if length < 10:
        raise ValueError(f"invalid password length {length}: must be >= 10")
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def hash_password(password):
    """
    Hash ``password`` as a SHA-512 crypt string (``$6$rounds=...``), the
    form ``chpasswd -e`` and ``useradd -p`` take, with a random salt.
    """
    return sha512_crypt.using(rounds=HASH_ROUNDS).hash(password)

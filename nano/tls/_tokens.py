"""Image tokens: proof that a download request comes from the cluster."""

import hashlib
import hmac


def image_token(secret: bytes, kind: str, image_id: str, sha256: str) -> str:
    """
    Return the hex HMAC-SHA256 of ``<kind>/<image_id>/<sha256>`` under the
    cluster secret, which Core puts in image references for Cells.
    """
    message = f"{kind}/{image_id}/{sha256}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def check_image_token(
    secret: bytes, kind: str, image_id: str, sha256: str, token
) -> bool:
    """
    Check ``token`` against :func:`image_token`, in constant time.

    :param token: the request's token; anything but an ASCII string is
        invalid.
    """
    if not isinstance(token, str) or not token.isascii():
        return False
    expected = image_token(secret, kind, image_id, sha256)
    return hmac.compare_digest(expected, token)

"""
A synchronous client of Core's REST API: it signs every request with
:mod:`nano.signing` and unwraps the ``{error_code, message, data}``
envelope.
"""

import http.client
import json
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from nano.signing import Request, sign

from ._settings import ENV_API, ApiSettings

PREFIX = "/api/v1"
#: Block size of uploads: large enough that a 1 GiB file takes few
#: system calls, small enough for a smooth progress bar.
UPLOAD_BLOCK = 1024 * 1024
#: Seconds to wait for a reply; an upload waits this long after its
#: last block, while Core checks the file.
TIMEOUT = 300.0


class CliError(Exception):
    """An error to print as one line before exiting non-zero."""


class ApiError(CliError):
    """Core rejected a request; the message is Core's own."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def path_of(*parts: str) -> str:
    """Join path parts, percent-encoding each, with a leading ``/``."""
    return "/" + "/".join(quote(str(part), safe="") for part in parts)


class ApiClient:
    """
    Signed requests to Core's API, one HTTP connection per request.

    :param settings: the address and credentials.
    :param now: returns the current time, timezone-aware.
    """

    def __init__(self, settings: ApiSettings, now=None):
        self.settings = settings
        self._now = now or (lambda: datetime.now(UTC))

    def call(self, method: str, path: str, body=None, query=None):
        """
        Send a JSON request to ``/api/v1`` + ``path`` and return the
        reply's ``data``.

        :param query: a mapping of query arguments; ``None`` values are
            left out.
        :raises ApiError: Core replied with an error.
        :raises CliError: Core could not be reached or did not reply
            with an envelope.
        """
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"} if data else {}
        query = urlencode(
            {k: v for k, v in (query or {}).items() if v is not None}
        )
        return self._send(method, path, query, headers, data, data)

    def upload(self, path: str, stream, size: int):
        """
        POST ``size`` bytes read from ``stream`` as the raw body
        (``application/octet-stream``) and return the reply's ``data``.

        The file is streamed in blocks, never held in memory. Nano v1
        signs a streamed body as an empty one, so the signature covers
        the path and the signed headers only.
        """
        headers = {
            "content-type": "application/octet-stream",
            "content-length": str(size),
        }
        return self._send("POST", path, "", headers, b"", stream)

    def _send(self, method, path, query, headers, signed_body, body):
        full_path = PREFIX + path
        headers = {
            "host": f"{self.settings.host}:{self.settings.port}",
            **headers,
        }
        request = Request(method, full_path, query, headers, signed_body)
        headers |= sign(
            request,
            self.settings.api_id,
            self.settings.api_key,
            self._now(),
        )
        target = f"{full_path}?{query}" if query else full_path
        status, reply = self._exchange(method, target, headers, body)
        return self._unwrap(method, full_path, status, reply)

    def _exchange(self, method, target, headers, body):
        connection = http.client.HTTPConnection(
            self.settings.host,
            self.settings.port,
            timeout=TIMEOUT,
            blocksize=UPLOAD_BLOCK,
        )
        try:
            connection.request(method, target, body or None, headers)
            response = connection.getresponse()
            return response.status, response.read()
        except ConnectionRefusedError:
            raise CliError(self._connection_refused_message()) from None
        except (OSError, http.client.HTTPException) as error:
            raise CliError(
                f"request {method} {self.settings.url}{target} failed: "
                f"{error or type(error).__name__}"
            ) from None
        finally:
            connection.close()

    def _connection_refused_message(self) -> str:
        return (
            f"cannot connect to Core's API at {self.settings.url}: "
            f"connection refused; check that nano-core runs there, or set "
            f"{ENV_API} (or --api) to its address, e.g. 127.0.0.1:5870"
        )

    def _unwrap(self, method, path, status, reply):
        try:
            envelope = json.loads(reply)
            error_code = envelope["error_code"]
        except (ValueError, TypeError, KeyError):
            raise CliError(
                f"{method} {self.settings.url}{path}: HTTP {status} with a "
                f"reply that is not a Nano API envelope: {reply[:200]!r}; "
                "is this address Core's REST API?"
            ) from None
        if error_code != 0 or status >= 400:
            message = envelope.get("message") or f"HTTP {status}"
            raise ApiError(status, message)
        return envelope.get("data")

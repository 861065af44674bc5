"""
The Cell's image cache: disk and media images downloaded from Core's
image service, one file per checksum, ``<directory>/<sha256>.<format>``.

The download (:func:`nano.tls.fetch_image`) renames a file into the
cache only once its size and SHA-256 match the image reference, so the
name is also the proof of its content, and a cached file is never
fetched again. Two requests for the same
checksum while it downloads share the one download.
"""

from pathlib import Path

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import Logger

from .storage import make_passable_directory

#: The file suffix of each image kind: disk images are qcow2, media
#: images are ISO 9660.
FORMATS = {"disk": "qcow2", "media": "iso"}
#: The suffix that :func:`nano.tls.fetch_image` adds to a download's
#: destination until the file is complete and verified.
PARTIAL_SUFFIX = ".partial"


def _default_fetch(reactor, host, reference, destination):
    from nano.tls import fetch_image

    return fetch_image(reactor, host, reference, destination)


class ImageCache:
    """
    Images on the Cell, fetched from Core on first use.

    :param reactor: provides ``IReactorTime`` (for durations) and what
        ``fetch`` needs.
    :param directory: the cache directory, created on first fetch.
    :param fetch: ``fetch(reactor, host, reference, destination)``
        downloads and verifies an image into ``destination``, returning a
        Deferred; :func:`nano.tls.fetch_image` by default.
    :ivar fetches: how many downloads this cache started, for tests and
        logs.
    """

    log = Logger()

    def __init__(self, reactor, directory, fetch=None):
        self._reactor = reactor
        self.directory = Path(directory)
        self._fetch = fetch or _default_fetch
        self._downloads: dict[str, list[Deferred]] = {}
        self.fetches = 0

    def path(self, reference: dict) -> Path:
        """Return the cache file of an image reference."""
        suffix = FORMATS[reference["kind"]]
        return self.directory / f"{reference['sha256']}.{suffix}"

    def get(self, host: str, reference: dict) -> Deferred:
        """
        Return a Deferred that fires with the cached file of
        ``reference``, downloading it from ``host`` first if it is
        missing. It fails as the download does, with nothing cached.
        """
        path = self.path(reference)
        if path.exists():
            return succeed(path)
        sha256 = reference["sha256"]
        waiting = Deferred()
        if sha256 in self._downloads:
            self._downloads[sha256].append(waiting)
            return waiting
        self._downloads[sha256] = [waiting]
        self._download(host, reference, path)
        return waiting

    def _download(self, host, reference, path):
        make_passable_directory(self.directory)
        self.fetches += 1
        started = self._reactor.seconds()
        self.log.info(
            "Fetching {kind} image {image} ({size} bytes) from {host}",
            kind=reference["kind"],
            image=reference["id"],
            size=reference["size"],
            host=host,
        )
        fetching = maybeDeferred(
            self._fetch, self._reactor, host, reference, path
        )
        fetching.addCallbacks(
            self._fetched,
            self._failed,
            callbackArgs=(reference, path, started),
            errbackArgs=(reference, host),
        )

    def _fetched(self, result, reference, path, started):
        self.log.info(
            "Fetched {kind} image {image} into {path}: {size} bytes in "
            "{duration:.2f} s",
            kind=reference["kind"],
            image=reference["id"],
            path=str(path),
            size=reference["size"],
            duration=self._reactor.seconds() - started,
        )
        for waiting in self._downloads.pop(reference["sha256"]):
            waiting.callback(path)

    def _failed(self, failure, reference, host):
        self.log.warn(
            "Fetching {kind} image {image} from {host} failed: {error}",
            kind=reference["kind"],
            image=reference["id"],
            host=host,
            error=failure.getErrorMessage(),
        )
        for waiting in self._downloads.pop(reference["sha256"]):
            waiting.errback(failure)

    def remove_partials(self) -> list[Path]:
        """
        Remove the partial files of downloads cut short by a crash, at
        start-up: no download runs yet, and each would take the space
        of a whole image until the same image is fetched again.

        :return: the removed paths.
        """
        if not self.directory.is_dir():
            return []
        found = sorted(self.directory.glob(f"*{PARTIAL_SUFFIX}"))
        for path in found:
            self.log.warn(
                "Removing {path}: a download that was cut short",
                path=str(path),
            )
            try:
                path.unlink(missing_ok=True)
            except OSError:
                self.log.failure("Could not remove {path}", path=str(path))
        return found

    # TODO: nothing removes cached images; one whose last overlay and
    # media drive are gone stays on disk until an operator deletes it.

    def files(self) -> list[Path]:
        """List the cached files, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(
            path
            for path in self.directory.iterdir()
            if path.suffix.lstrip(".") in FORMATS.values()
        )

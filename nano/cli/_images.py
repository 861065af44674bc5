"""``nano image``: disk images (qcow2) and media images (ISO)."""

import time
from pathlib import Path

import click

from ._client import ApiError, CliError, path_of
from ._context import pass_context
from ._progress import upload_bar

KINDS = {False: "disk_images", True: "media_images"}
#: Seconds to retry deleting the record of a failed upload, and the
#: pause between tries, while Core still counts the upload as running.
FORGET_WAIT = 10.0
FORGET_INTERVAL = 0.2
COLUMNS = ["id", "name", "format", "size", "created", "owner", "create_time"]


@click.group()
def image():
    """Disk images (qcow2) and media images (ISO)."""


def _new_id(data) -> str:
    # Nano v1 replies {"id": ...}; its examples also show [{"id": ...}].
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise CliError(f"Core replied no image id: {data!r}")
    return data["id"]


@image.command()
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--name", help="Image name; by default the file's name.")
@click.option("--media", is_flag=True, help="Upload an ISO media image.")
@click.option("--owner", default="admin", show_default=True)
@click.option("--group", default="admin", show_default=True)
@click.option("--description", default="", help="Free text.")
@pass_context
def upload(context, file, name, media, owner, group, description):
    """Create an image record and upload FILE into it."""
    _check_regular(file)
    collection = KINDS[media]
    record = {
        "name": name or file.stem,
        "owner": owner,
        "group": group,
        "description": description,
        "tags": [],
    }
    image_id = _new_id(context.client.call("POST", f"/{collection}/", record))
    size = file.stat().st_size
    try:
        with (
            open(file, "rb") as stream,
            upload_bar(stream, size, file.name, quiet=context.json) as body,
        ):
            context.client.upload(
                path_of(collection, image_id, "file", ""), body, size
            )
    except (CliError, OSError, KeyboardInterrupt):
        _forget(context, collection, image_id)
        raise
    context.done(f"uploaded {file} as image {image_id}", {"id": image_id})


def _check_regular(file: Path) -> None:
    """
    Reject a device, pipe or socket before any record exists: its size
    reads as 0, but reading it may never end.
    """
    if not file.is_file():
        raise CliError(
            f"invalid file {file}: not a regular file (a device, pipe or "
            "socket); copy the image into a file first, e.g. with "
            f"'dd if={file} of=image.iso'"
        )


def _forget(context, collection, image_id, wait=FORGET_WAIT):
    # A record without a file cannot be used, so delete it, and report
    # the upload's error rather than this one. Core rejects the deletion
    # with 409 until it has read the end of the dropped upload.
    deadline = time.monotonic() + wait
    while True:
        try:
            context.client.call("DELETE", path_of(collection, image_id))
            return
        except ApiError as error:
            if error.status != 409 or time.monotonic() > deadline:
                _warn_kept(image_id, error)
                return
        except CliError as error:
            _warn_kept(image_id, error)
            return
        time.sleep(FORGET_INTERVAL)


def _warn_kept(image_id, error):
    click.echo(
        f"warning: could not delete image record {image_id}: {error}; "
        f"delete it with 'nano image delete {image_id}'",
        err=True,
    )


@image.command(name="list")
@click.option("--media", is_flag=True, help="List media images (ISO).")
@pass_context
def list_images(context, media):
    """List disk images, or media images with --media."""
    if media:
        rows = context.client.call("GET", "/media_images/")
    else:
        rows = context.client.call("GET", "/disk_image_search/")
    context.show_list(rows, COLUMNS, "no images")


def _lookup(context, image_id):
    """Return the image's collection and record, disk images first."""
    for collection in KINDS.values():
        try:
            path = path_of(collection, image_id)
            return collection, context.client.call("GET", path)
        except ApiError as error:
            if error.status != 404:
                raise
    raise CliError(
        f"image {image_id} not found among disk or media images; "
        "'nano image list' and 'nano image list --media' show them"
    )


@image.command()
@click.argument("image_id")
@pass_context
def show(context, image_id):
    """Show one image (disk or media)."""
    _, record = _lookup(context, image_id)
    context.show_object(record)


@image.command()
@click.argument("image_id")
@pass_context
def delete(context, image_id):
    """Delete an image (disk or media) and its file."""
    collection, _ = _lookup(context, image_id)
    context.client.call("DELETE", path_of(collection, image_id))
    context.done(f"deleted image {image_id}")

"""``nano guest`` and ``nano instance``: guests and their power state."""

import time

import click

from ._client import CliError, path_of
from ._context import pass_context
from ._progress import percent_bar
from ._sizes import parse_size

GUEST_COLUMNS = ["id", "name", "pool", "cell", "cores", "memory", "running"]
#: Seconds between two reads of a guest's creation progress.
POLL_INTERVAL = 0.5


class Size(click.ParamType):
    """A size such as 256M, 1G or a number of bytes."""

    name = "size"

    def convert(self, value, param, ctx):
        """Return the size in bytes, or fail naming the accepted forms."""
        if isinstance(value, int):
            return value
        try:
            return parse_size(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


def _template_id(client, requested) -> str:
    templates = client.call("GET", "/templates/")
    if not templates:
        raise CliError("Core has no system templates; create one first")
    if requested is None:
        return templates[0]["id"]
    for template in templates:
        if requested in (template["id"], template["name"]):
            return template["id"]
    names = ", ".join(repr(t["name"]) for t in templates)
    raise CliError(
        f"template {requested!r} not found: use an id or one of the "
        f"names {names}"
    )


@click.group()
def guest():
    """Guests: instance definitions (cores, memory, disks, image)."""


@guest.command()
@click.argument("name")
@click.option("--pool", "pool_name", required=True, help="Compute pool.")
@click.option("--cores", type=click.IntRange(1), default=1, show_default=True)
@click.option("--memory", type=Size(), default="256M", show_default=True)
@click.option(
    "--disk",
    "disks",
    type=Size(),
    multiple=True,
    help="Disk size, repeated for data disks; the system disk is first "
    "(default 1G).",
)
@click.option("--image", help="Disk image id to create the system disk from.")
@click.option(
    "--template",
    help="System template id or name; default: the "
    "first of 'GET /templates/'.",
)
@click.option("--owner", default="admin", show_default=True)
@click.option("--group", default="admin", show_default=True)
@click.option(
    "--auto-start",
    is_flag=True,
    help="Start it once created, and whenever its host boots.",
)
@click.option("--wait", is_flag=True, help="Wait until it is created.")
@click.option(
    "--timeout",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds --wait waits.",
)
@pass_context
def create(
    context,
    name,
    pool_name,
    cores,
    memory,
    disks,
    image,
    template,
    owner,
    group,
    auto_start,
    wait,
    timeout,
):
    """Create guest NAME in a pool."""
    body = {
        "name": name,
        "owner": owner,
        "group": group,
        "pool": pool_name,
        "cores": cores,
        "memory": memory,
        "disks": list(disks) or [parse_size("1G")],
        "template": _template_id(context.client, template),
        "auto_start": auto_start,
    }
    if image is not None:
        body["from_image"] = image
    guest_id = context.client.call("POST", "/guests/", body)["id"]
    if not wait:
        context.done(f"creating guest {name}: id {guest_id}", {"id": guest_id})
        return
    data = _wait_created(context, guest_id, name, timeout)
    context.done(f"created guest {name}: id {guest_id}", data)


def _wait_created(context, guest_id, name, timeout):
    deadline = time.monotonic() + timeout
    path = path_of("guests", guest_id)
    with percent_bar(f"creating {name}", quiet=context.json) as move:
        while True:
            data = context.client.call("GET", path)
            if data.get("created"):
                move(100)
                return data
            move(data.get("progress", 0))
            if data.get("status") in ("failed", "rolled back"):
                raise CliError(
                    f"creating guest {name} ({guest_id}) failed: "
                    f"{data.get('error', 'no reason given')}"
                )
            if time.monotonic() > deadline:
                raise CliError(
                    f"guest {name} ({guest_id}) was not created within "
                    f"{timeout:g} s; 'nano guest show {guest_id}' shows it"
                )
            time.sleep(POLL_INTERVAL)


@guest.command(name="wait")
@click.argument("guest_id")
@click.option(
    "--timeout",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds to wait.",
)
@pass_context
def wait_command(context, guest_id, timeout):
    """Wait until a guest is created, showing its progress."""
    data = context.client.call("GET", path_of("guests", guest_id))
    name = data.get("name", guest_id)
    data = _wait_created(context, guest_id, name, timeout)
    context.done(f"created guest {name}: id {guest_id}", data)


@guest.command(name="list")
@click.option("--pool", "pool_name", help="Only guests of this pool.")
@click.option("--cell", "cell_name", help="Only guests on this Cell.")
@click.option("--owner", help="Only guests of this owner.")
@click.option("--group", help="Only guests of this group.")
@pass_context
def list_guests(context, pool_name, cell_name, owner, group):
    """List guests, sorted by name."""
    query = {
        "pool": pool_name,
        "cell": cell_name,
        "owner": owner,
        "group": group,
    }
    rows = context.client.call("GET", "/guest_search/", query=query)
    context.show_list(rows, GUEST_COLUMNS, "no guests")


@guest.command()
@click.argument("guest_id")
@pass_context
def show(context, guest_id):
    """Show a guest, or its creation progress, with its IPv4 address."""
    data = context.client.call("GET", path_of("guests", guest_id))
    if context.json or not data.get("created"):
        context.show_object(data)
        return
    context.show_object(with_address(data))


def with_address(data: dict) -> dict:
    """
    Return a created guest's fields for people: Nano 1.x's ``internal``
    object replaced by ``address``, the address Core allocated, or
    ``none`` when its compute pool has no address pool.
    """
    fields = {key: value for key, value in data.items() if key != "internal"}
    internal = data.get("internal") or {}
    fields["address"] = internal.get("allocated_address") or "none"
    return fields


@guest.command()
@click.argument("guest_id")
@pass_context
def delete(context, guest_id):
    """Delete a guest: its instance, volumes and record."""
    context.client.call("DELETE", path_of("guests", guest_id))
    context.done(f"deleted guest {guest_id}")


@click.group()
def instance():
    """Instances: start, stop and status of created guests."""


@instance.command()
@click.argument("guest_id")
@pass_context
def start(context, guest_id):
    """Start a guest's instance."""
    context.client.call("POST", path_of("instances", guest_id))
    context.done(f"started {guest_id}")


@instance.command()
@click.argument("guest_id")
@click.option(
    "--force",
    is_flag=True,
    help="Cut the power at once, instead of asking the guest OS through ACPI.",
)
@click.option("--reboot", is_flag=True, help="Restart instead of stopping.")
@pass_context
def stop(context, guest_id, force, reboot):
    """Stop (or with --reboot, restart) a guest's instance."""
    body = {"reboot": reboot, "force": force}
    context.client.call("DELETE", path_of("instances", guest_id), body)
    verb = "restarted" if reboot else "stopped"
    context.done(f"{verb} {guest_id}" + ("" if force else " (ACPI request)"))


@instance.command()
@click.argument("guest_id")
@pass_context
def status(context, guest_id):
    """Show an instance's state as its Cell reports it."""
    path = path_of("instances", guest_id)
    context.show_object(context.client.call("GET", path))

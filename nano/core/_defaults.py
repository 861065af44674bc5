"""The five system templates of a new Core, as Nano 1.x ships them."""

from twisted.internet.defer import Deferred, gatherResults

from nano.events.core import SystemTemplateCreated

_COLUMNS = (
    "name",
    "operating_system",
    "admin",
    "disk",
    "network",
    "display",
    "control",
    "usb",
    "tablet",
)
_TABLE = """
CentOS 7|linux|root|scsi|virtio|vga|vnc|nec-xhci|usb
CentOS 6|linux|root|sata|virtio|vga|vnc|nec-xhci|usb
Windows Server 2012|windows|Administrator|sata|e1000|vga|vnc|nec-xhci|usb
General|linux|root|sata|rtl8139|vga|vnc|none|usb
Legacy|linux|root|ide|rtl8139|cirrus|vnc|none|none
"""
#: The settings of each default template, in Nano 1.x's order.
DEFAULT_TEMPLATES = tuple(
    dict(zip(_COLUMNS, line.split("|"), strict=True))
    for line in _TABLE.strip().splitlines()
)


def record_default_templates(live, make_id, time) -> Deferred | None:
    """
    Record the default templates if the journal is empty, so that they
    are created once, on Core's first start, and stay deleted if an
    operator deletes them.

    :return: a Deferred that fires once they are on disk, or ``None``
        when the journal already has events.
    """
    if live.current.position != 0:
        return None
    recorded = [
        live.record(
            SystemTemplateCreated(
                aggregate_id=make_id(), time=time, **settings
            )
        )
        for settings in DEFAULT_TEMPLATES
    ]
    return gatherResults(recorded, consumeErrors=True)

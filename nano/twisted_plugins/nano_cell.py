"""The ``twistd nano-cell`` plugin."""

from twisted.application.service import ServiceMaker

nano_cell = ServiceMaker(
    "Nano Cell",
    "nano.cell.tap",
    "Nano's Cell: instances on this host's libvirt",
    "nano-cell",
)

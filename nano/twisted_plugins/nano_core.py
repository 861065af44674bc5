"""The ``twistd nano-core`` plugin."""

from twisted.application.service import ServiceMaker

nano_core = ServiceMaker(
    "Nano Core",
    "nano.core.tap",
    "Nano's Core: state and REST API",
    "nano-core",
)

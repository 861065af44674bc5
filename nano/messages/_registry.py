"""The one registry of the Nano message vocabulary."""

from nano.fabric import MessageRegistry

#: Every message type Core and Cells exchange, and ``ErrorReply``.
NANO_MESSAGES = MessageRegistry()

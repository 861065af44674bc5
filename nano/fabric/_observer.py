# ruff: noqa: N805 (zope.interface methods take no self)
"""The interface through which Core and Cell follow their peers."""

from zope.interface import Interface


class IPeerObserver(Interface):
    """
    Receives the lifecycle and the messages of every peer of an endpoint.

    The callbacks run in the reactor thread and must not block.
    """

    def peer_connected(peer):
        """A connection was confirmed by both sides."""

    def peer_lost(peer):
        """Nothing was heard from ``peer`` for ``lost_after`` seconds."""

    def peer_recovered(peer):
        """A lost peer was heard again."""

    def peer_disconnected(peer, graceful):
        """
        The connection ended: ``graceful`` is true when either side closed
        it, false after ``disconnect_after`` seconds of silence or a
        protocol error.
        """

    def message_received(peer, message):
        """
        One complete message (bytes) arrived; messages of a connection
        arrive in the order sent, each once.
        """

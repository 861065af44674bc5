"""
The cluster fabric: how Core and Cells find and talk to each other.

- Discovery: Core answers multicast pings of its domain with its
  transport address (:class:`DiscoveryResponder`); a node searches with
  :class:`DiscoveryClient` and keeps a connection to Core with
  :class:`CoreConnector`.
- Transport: :class:`Endpoint` is a reliable, ordered, authenticated
  message protocol over UDP; each connection is a :class:`Peer`.
- Messages and sessions: :class:`MessageRegistry` declares message
  types, :class:`Session` routes requests, replies and one-way messages.

Settings come from ``config/domain.cfg`` (:class:`FabricConfig`).
"""

from ._config import FabricConfig, ensure_secret
from ._endpoint import ConnectTimeout, Endpoint
from ._messages import ErrorReply, Message, MessageError, MessageRegistry
from ._observer import IPeerObserver
from ._peer import Peer, PeerClosed
from ._session import PeerDisconnected, RemoteError, RequestTimeout, Session

__all__ = [
    "ConnectTimeout",
    "Endpoint",
    "ErrorReply",
    "FabricConfig",
    "IPeerObserver",
    "Message",
    "MessageError",
    "MessageRegistry",
    "Peer",
    "PeerClosed",
    "PeerDisconnected",
    "RemoteError",
    "RequestTimeout",
    "Session",
    "ensure_secret",
]

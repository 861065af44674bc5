"""
The cluster fabric: how Core and Cells find and talk to each other.

- Discovery: Core replies to multicast pings of its domain with its
  transport address (:class:`DiscoveryResponder`); a node searches with
  :class:`DiscoveryClient` and keeps a connection to Core with
  :class:`CoreConnector`.
- Transport: :class:`Endpoint` is a reliable, ordered, authenticated
  message protocol over UDP; each connection is a :class:`Peer`.
- Messages and sessions: :class:`MessageRegistry` declares message
  types, :class:`Session` routes requests, replies and one-way messages.

Settings come from ``config/domain.cfg`` (:class:`FabricConfig`).
:class:`CoreFabric` and :class:`CellFabric` are services that put these
pieces together for Core and for a Cell.
"""

from ._config import FabricConfig, ensure_secret
from ._connector import CoreConnector, fixed_core, parse_core_address
from ._discovery import DiscoveryClient, DiscoveryError, DiscoveryResponder
from ._endpoint import MAX_PACKET_SIZE, ConnectTimeout, Endpoint
from ._interface import InterfaceError, resolve_interface
from ._messages import ErrorReply, Message, MessageError, MessageRegistry
from ._observer import IPeerObserver
from ._peer import Peer, PeerClosed
from ._services import CellFabric, CoreFabric
from ._session import PeerDisconnected, RemoteError, RequestTimeout, Session

__all__ = [
    "MAX_PACKET_SIZE",
    "CellFabric",
    "ConnectTimeout",
    "CoreConnector",
    "CoreFabric",
    "DiscoveryClient",
    "DiscoveryError",
    "DiscoveryResponder",
    "Endpoint",
    "ErrorReply",
    "FabricConfig",
    "IPeerObserver",
    "InterfaceError",
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
    "fixed_core",
    "parse_core_address",
    "resolve_interface",
]

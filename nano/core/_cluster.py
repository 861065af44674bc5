"""
The Cells Core is connected to: soft state, rebuilt from what the Cells
send and never journalled.

Which pool a Cell belongs to is in Core's journal (``CellAdded``...).
This module keeps what is live: the connection, the last
``CellStatusReport`` and the instance list of ``ComputeCellReady``. A
Cell that sends no report for :data:`SILENCE_LIMIT` seconds is marked
lost until its next report, as Nano 1.x does.
"""

from enum import Enum

from zope.interface import implementer

from nano.fabric import IPeerObserver
from nano.messages import (
    CellStatusReport,
    ComputeCellReady,
    ComputePoolReady,
    InstanceDeleted,
    InstanceStarted,
    InstanceStopped,
)

from ._logging import core_logger
from ._scheduler import Candidate

#: Seconds without a status report after which a Cell counts as lost.
SILENCE_LIMIT = 10.0
#: Instance states counted as running in status replies; every state
#: but these and ``lost`` counts as stopped.
RUNNING_STATES = frozenset({"running", "paused"})


class Link(Enum):
    """The state of a Cell's link to Core."""

    #: Connected, and reporting within the silence limit.
    ONLINE = "online"
    #: Connected, but silent: no report within the silence limit, or the
    #: fabric heard nothing for its ``lost_after`` time.
    LOST = "lost"
    #: The connection ended.
    DISCONNECTED = "disconnected"


class LiveCell:
    """
    One Cell that connected since Core started.

    :ivar peer: its fabric connection, ``None`` once disconnected.
    :ivar address: its IP address as Core saw it, kept after it
        disconnects.
    :ivar link: the state of its link, a :class:`Link`.
    :ivar report: its last :class:`CellStatusReport`, or ``None``.
    :ivar instances: its instance descriptions by id, as its
        ``ComputeCellReady`` and later instance messages give them;
        change them only through this class's methods, which keep
        :attr:`allocated` current.
    :ivar allocated: the cores, memory and disk (bytes) of its instances.
    """

    __slots__ = (
        "_candidate",
        "address",
        "allocated",
        "instances",
        "link",
        "name",
        "peer",
        "report",
        "silence",
    )

    def __init__(self, name: str, peer):
        self.name = name
        self.peer = peer
        self.address = peer.address[0]
        self.link = Link.ONLINE
        self.report = None
        self.instances = {}
        self.allocated = (0, 0, 0)
        self.silence = None
        self._candidate = None

    @property
    def alive(self) -> bool:
        """Whether the Cell is online."""
        return self.link is Link.ONLINE

    def replace_instances(self, descriptions) -> None:
        """Replace the instance list with a Cell's full list."""
        self.instances = {
            item["id"]: item
            for item in descriptions
            if isinstance(item.get("id"), str)
        }
        self.allocated = _allocation(self.instances.values())

    def remove_instance(self, instance_id: str) -> None:
        """Forget a deleted instance."""
        if self.instances.pop(instance_id, None) is not None:
            self.allocated = _allocation(self.instances.values())

    def set_media(self, instance_id: str, media: str | None) -> None:
        """
        Note the media image id in an instance's CD-ROM drive, or
        ``None`` once ejected, if the Cell has that instance.
        """
        instance = self.instances.get(instance_id)
        if instance is not None:
            self.instances[instance_id] = {**instance, "media": media}

    def set_state(self, instance_id: str, state: str) -> None:
        """Change an instance's state, if the Cell has that instance."""
        instance = self.instances.get(instance_id)
        if instance is not None:
            self.instances[instance_id] = {**instance, "state": state}

    def candidate(self, enabled: bool) -> Candidate:
        """
        Return the Cell as a scheduler :class:`Candidate`, built again
        only when its report, liveness, allocation or ``enabled`` changed.
        """
        key = (self.report, self.alive, self.allocated, enabled)
        cached = self._candidate
        if cached is None or cached[0] != key:
            cached = (key, _candidate(self, enabled))
            self._candidate = cached
        return cached[1]

    def instance_counts(self) -> list[int]:
        """
        Return its instances as Nano 1.x counts them: ``[stopped,
        running, lost, migrating]``; all are lost while the Cell is.
        """
        if not self.alive:
            return [0, 0, len(self.instances), 0]
        counts = [0, 0, 0, 0]
        for instance in self.instances.values():
            state = instance.get("state")
            if state in RUNNING_STATES:
                counts[1] += 1
            elif state == "lost":
                counts[2] += 1
            else:
                counts[0] += 1
        return counts


@implementer(IPeerObserver)
class Cluster:
    """
    Core's view of the connected Cells; the fabric session's observer.

    :param live: Core's :class:`~nano.projections.LiveProjection`, whose
        state gives the pool of each Cell.
    :param clock: times the silence limit.
    :ivar session: the fabric :class:`~nano.fabric.Session`, set by
        :meth:`register`; without one, nothing is sent.
    """

    log = core_logger()

    def __init__(self, live, clock, silence_limit=SILENCE_LIMIT):
        self.live = live
        self.session = None
        self._clock = clock
        self._silence_limit = silence_limit
        self._cells: dict[str, LiveCell] = {}

    def register(self, session) -> None:
        """Handle the Cells' messages that arrive through ``session``."""
        self.session = session
        session.handle(CellStatusReport, self._reported)
        session.handle(ComputeCellReady, self._cell_ready)
        session.handle(InstanceStarted, self._instance_started)
        session.handle(InstanceStopped, self._instance_stopped)
        session.handle(InstanceDeleted, self._instance_deleted)

    def stop(self) -> None:
        """Cancel the silence timers, as Core stops."""
        for cell in self._cells.values():
            _cancel(cell.silence)

    def cell(self, name: str) -> LiveCell | None:
        """
        Return the Cell ``name`` if it connected since Core started,
        else ``None``.
        """
        return self._cells.get(name)

    def cells(self) -> list[LiveCell]:
        """
        Return every Cell that connected since Core started, sorted by
        name.
        """
        return [self._cells[name] for name in sorted(self._cells)]

    def unallocated(self) -> list[LiveCell]:
        """Return the connected Cells in no pool, sorted by name."""
        members = self.live.current.state.cells
        return [
            cell
            for cell in self.cells()
            if cell.peer is not None and cell.name not in members
        ]

    def candidates(self, pool: str) -> list[Candidate]:
        """
        Return the Cells of ``pool`` as scheduler candidates. A Cell that
        is not connected, or has not reported yet, is offline.
        """
        candidates = []
        cells = self._cells
        for member in self.live.current.state.cells.values():
            if member.pool != pool:
                continue
            cell = cells.get(member.name)
            if cell is None:
                candidates.append(
                    Candidate(member.name, alive=False, enabled=member.enabled)
                )
            else:
                candidates.append(cell.candidate(member.enabled))
        return candidates

    def send_pool(self, name: str) -> None:
        """
        Send ``ComputePoolReady`` to the Cell ``name`` if it is
        connected and in a pool; its reply updates its instance list.
        """
        cell = self._cells.get(name)
        state = self.live.current.state
        member = state.cells.get(name)
        if cell is None or cell.peer is None or member is None:
            return
        if self.session is None:
            return
        pool = state.pools.get(member.pool)
        if pool is None:
            return
        message = ComputePoolReady(
            pool=pool.name, storage=pool.storage, network=pool.network
        )
        peer = cell.peer
        replied = self.session.request(peer, message)
        replied.addCallbacks(
            self._pool_confirmed,
            self._pool_failed,
            (peer, pool.name),
            None,
            (peer, pool.name),
        )

    def _pool_confirmed(self, reply, peer, pool):
        self.log.info(
            "Cell {cell} confirmed pool {pool} with {count} instances",
            cell=peer.name,
            pool=pool,
            count=len(reply.instances),
        )
        self._cell_ready(peer, reply)

    def _pool_failed(self, failure, peer, pool):
        # The pool is sent again when the Cell reconnects, or when the
        # pool changes.
        self.log.warn(
            "Sending pool {pool} to Cell {cell} failed: {error}",
            cell=peer.name,
            pool=pool,
            error=failure.getErrorMessage(),
        )

    def send_pool_to_members(self, pool: str) -> None:
        """Send ``ComputePoolReady`` to every connected Cell of ``pool``."""
        for member in self.live.current.state.cells_of(pool):
            self.send_pool(member.name)

    # Messages from the Cells.

    def _reported(self, peer, report):
        cell = self._connected_cell(peer)
        if cell is None:
            return
        if cell.link is Link.LOST:
            self.log.info("Cell {cell} reports again", cell=cell.name)
        cell.report = report
        cell.link = Link.ONLINE
        self._arm_silence(cell)

    def _cell_ready(self, peer, message):
        cell = self._connected_cell(peer)
        if cell is None:
            return
        cell.replace_instances(message.instances)

    def _instance_started(self, peer, message):
        self._set_state(peer, message.instance_id, "running")

    def _instance_stopped(self, peer, message):
        self._set_state(peer, message.instance_id, "stopped")

    def _instance_deleted(self, peer, message):
        cell = self._connected_cell(peer)
        if cell is not None:
            cell.remove_instance(message.instance_id)

    def _set_state(self, peer, instance_id, state):
        cell = self._connected_cell(peer)
        if cell is not None:
            cell.set_state(instance_id, state)

    def _connected_cell(self, peer) -> LiveCell | None:
        cell = self._cells.get(peer.name)
        if cell is None or cell.peer is not peer:
            return None
        return cell

    # The silence limit.

    def _arm_silence(self, cell: LiveCell) -> None:
        if cell.silence is not None and cell.silence.active():
            cell.silence.reset(self._silence_limit)
        else:
            cell.silence = self._clock.callLater(
                self._silence_limit, self._silent, cell
            )

    def _silent(self, cell: LiveCell) -> None:
        cell.silence = None
        if cell.link is Link.ONLINE:
            cell.link = Link.LOST
            self.log.warn(
                "Cell {cell} lost: no status report for {seconds} s",
                cell=cell.name,
                seconds=self._silence_limit,
            )

    # IPeerObserver

    def peer_connected(self, peer):
        """Follow a new Cell, and tell it its pool if it has one."""
        previous = self._cells.get(peer.name)
        if previous is not None:
            _cancel(previous.silence)
            if previous.peer is not None:
                self.log.warn(
                    "Cell {cell} connected from {address} while connected "
                    "from {previous}; following the new connection. Give "
                    "each Cell a unique --name",
                    cell=peer.name,
                    address=peer.address[0],
                    previous=previous.address,
                )
        cell = LiveCell(peer.name, peer)
        self._cells[peer.name] = cell
        self._arm_silence(cell)
        self.log.info(
            "Cell {cell} connected from {address}",
            cell=peer.name,
            address=cell.address,
        )
        self.send_pool(peer.name)

    def peer_lost(self, peer):
        """Mark the Cell lost, because the fabric heard nothing from it."""
        cell = self._connected_cell(peer)
        if cell is not None and cell.link is Link.ONLINE:
            cell.link = Link.LOST
            self.log.warn("Cell {cell} lost: silent link", cell=cell.name)

    def peer_recovered(self, peer):
        """Do nothing, because the next report marks the Cell alive."""

    def peer_disconnected(self, peer, graceful):
        """
        Mark a Cell of a pool offline, keeping its last instance list so
        that its instances count as lost until it connects again, and
        forget a Cell of no pool.
        """
        cell = self._connected_cell(peer)
        if cell is None:
            return
        _cancel(cell.silence)
        cell.peer = None
        cell.link = Link.DISCONNECTED
        if cell.name not in self.live.current.state.cells:
            del self._cells[cell.name]
        self.log.info(
            "Cell {cell} disconnected ({how})",
            cell=peer.name,
            how="closed" if graceful else "timed out",
        )

    def message_received(self, peer, message):
        """Not called: the session decodes messages."""


def _candidate(cell: LiveCell, enabled: bool) -> Candidate:
    report = cell.report
    if not cell.alive or report is None:
        return Candidate(cell.name, alive=False, enabled=enabled)
    cores, memory, disk = cell.allocated
    return Candidate(
        cell.name,
        alive=True,
        enabled=enabled,
        cores=report.cores,
        cpu_load=report.cpu_load,
        memory=report.memory,
        memory_available=report.memory_available,
        disk=report.disk,
        disk_available=report.disk_available,
        allocated_cores=cores,
        allocated_memory=memory,
        allocated_disk=disk,
        instances=len(cell.instances),
        instance_limit=report.instance_limit,
    )


def _allocation(instances) -> tuple[int, int, int]:
    """Return the cores, memory and disk given to ``instances``."""
    cores = memory = disk = 0
    for instance in instances:
        cores += _whole(instance.get("cores"))
        memory += _whole(instance.get("memory"))
        disks = instance.get("disks")
        if isinstance(disks, list):
            disk += sum(_whole(size) for size in disks)
    return cores, memory, disk


def _cancel(call) -> None:
    if call is not None and call.active():
        call.cancel()


def _whole(value) -> int:
    """Return a size from a Cell's instance description, 0 if invalid."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0

"""
The scheduler: which Cell of a pool gets a new instance.

It is a pure function of the Cells' last reports and allocations, so it
is tested without a network and measured by ``benchmarks/scheduler.py``.
The rules follow Nano 1.x's ``selectCell``: a Cell that is offline,
disabled, above 80 % CPU load, or short of cores, memory or disk is
skipped, and the remaining Cell with the highest score wins.
"""

from collections.abc import Iterable

import attrs

#: CPU load above which a Cell gets no new instance, as in Nano 1.x.
MAX_CPU_LOAD = 0.8


@attrs.frozen
class Demand:
    """
    The resources a new instance needs.

    :ivar cores: vCPUs.
    :ivar memory: bytes.
    :ivar disk: bytes, the sum of its volumes.
    """

    cores: int
    memory: int
    disk: int


@attrs.frozen
class Candidate:
    """
    One Cell, with the figures the scheduler uses.

    :ivar alive: the Cell is connected and has reported recently.
    :ivar cpu_load: the busy share of its cores, 0 to 1.
    :ivar memory: installed memory, and ``memory_available`` the free
        part, in bytes; ``disk`` and ``disk_available`` likewise.
    :ivar allocated_cores: the vCPUs of its instances, and
        ``allocated_memory`` and ``allocated_disk`` their memory and
        volume sizes in bytes.
    :ivar instances: the number of its instances, and
        ``instance_limit`` the most it accepts (0: no limit).
    :ivar score: :func:`score` of the other fields, computed once.
    """

    name: str
    alive: bool
    enabled: bool
    cores: int = 0
    cpu_load: float = 0.0
    memory: int = 0
    memory_available: int = 0
    disk: int = 0
    disk_available: int = 0
    allocated_cores: int = 0
    allocated_memory: int = 0
    allocated_disk: int = 0
    instances: int = 0
    instance_limit: int = 0
    score: float = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self):
        object.__setattr__(self, "score", score(self))


class NoCellFits(Exception):
    """
    No Cell of the pool can take the instance.

    :ivar reasons: ``(cell name, reason)`` for each Cell, sorted by name.
    """

    def __init__(self, pool: str, demand: Demand, reasons):
        self.reasons = tuple(sorted(reasons))
        needed = (
            f"{demand.cores} cores, {demand.memory} bytes of memory and "
            f"{demand.disk} bytes of disk"
        )
        if not self.reasons:
            message = f"compute pool {pool!r} has no Cells for {needed}"
        else:
            listed = "; ".join(f"{n}: {r}" for n, r in self.reasons)
            message = f"no Cell of compute pool {pool!r} fits {needed}: "
            message += listed
        super().__init__(message)


def rejection(
    cell: Candidate, demand: Demand, max_cpu_load: float = MAX_CPU_LOAD
) -> str | None:
    """Return why ``cell`` cannot take ``demand``, or ``None`` if it can."""
    if not cell.alive:
        return "offline"
    if not cell.enabled:
        return "disabled"
    if cell.cpu_load > max_cpu_load:
        return f"CPU load {cell.cpu_load:.0%} is above {max_cpu_load:.0%}"
    if 0 < cell.instance_limit <= cell.instances:
        return f"has its limit of {cell.instance_limit} instances"
    if demand.cores > cell.cores:
        return f"has {cell.cores} cores, fewer than {demand.cores}"
    if demand.memory > cell.memory_available:
        return (
            f"has {cell.memory_available} bytes of memory available, "
            f"needs {demand.memory}"
        )
    if demand.disk > cell.disk_available:
        return (
            f"has {cell.disk_available} bytes of disk available, "
            f"needs {demand.disk}"
        )
    return None


def score(cell: Candidate) -> float:
    """
    Return how free ``cell`` is, 0 to 1: the mean of its real-time free
    capacity (idle CPU, free memory, free disk) and its unallocated
    capacity (cores, memory and disk not given to instances).
    """
    free = (
        (1.0 - cell.cpu_load)
        + _share(cell.memory_available, cell.memory)
        + _share(cell.disk_available, cell.disk)
    ) / 3
    unallocated = (
        _share(cell.cores - cell.allocated_cores, cell.cores)
        + _share(cell.memory - cell.allocated_memory, cell.memory)
        + _share(cell.disk - cell.allocated_disk, cell.disk)
    ) / 3
    return (free + unallocated) / 2


def _share(part: int, whole: int) -> float:
    """Return ``part / whole`` within 0 to 1; an overcommit counts as 0."""
    if whole <= 0:
        return 0.0
    return min(1.0, max(0.0, part / whole))


def select_cell(
    pool: str,
    cells: Iterable[Candidate],
    demand: Demand,
    max_cpu_load: float = MAX_CPU_LOAD,
) -> Candidate:
    """
    Return the Cell with the highest :func:`score` among those that
    can take ``demand``; of equal scores, the first name in sort order.

    :param max_cpu_load: a Cell busier than this share of its cores
        takes no new instance.

    :raises NoCellFits: no Cell can take it, with each Cell's reason.
    """
    best = None
    rejected = []
    cores, memory, disk = demand.cores, demand.memory, demand.disk
    for cell in cells:
        # The same rules as rejection(), inlined because this loop runs
        # once per Cell of the pool for every placement.
        if not (
            cell.alive
            and cell.enabled
            and cell.cpu_load <= max_cpu_load
            and cell.cores >= cores
            and cell.memory_available >= memory
            and cell.disk_available >= disk
            and not 0 < cell.instance_limit <= cell.instances
        ):
            rejected.append(cell)
        elif best is None or _better(cell, best):
            best = cell
    if best is None:
        reasons = [
            (cell.name, rejection(cell, demand, max_cpu_load))
            for cell in rejected
        ]
        raise NoCellFits(pool, demand, reasons)
    return best


def _better(cell: Candidate, best: Candidate) -> bool:
    if cell.score != best.score:
        return cell.score > best.score
    return cell.name < best.name

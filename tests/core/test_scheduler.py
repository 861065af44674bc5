"""The scheduler: rules, reasons, and properties over random Cells."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nano.core._scheduler import (
    Candidate,
    Demand,
    NoCellFits,
    rejection,
    score,
    select_cell,
)

GIB = 1024**3
DEMAND = Demand(cores=2, memory=4 * GIB, disk=20 * GIB)


def cell(name, **fields):
    """Return an alive, enabled, idle Cell with room, changed by fields."""
    values = {
        "alive": True,
        "enabled": True,
        "cores": 8,
        "cpu_load": 0.1,
        "memory": 32 * GIB,
        "memory_available": 30 * GIB,
        "disk": 500 * GIB,
        "disk_available": 450 * GIB,
    }
    values.update(fields)
    return Candidate(name, **values)


def test_picks_least_loaded():
    """Of two fitting Cells, the less loaded one wins."""
    busy = cell("busy", cpu_load=0.7, memory_available=10 * GIB)
    idle = cell("idle", cpu_load=0.1)
    assert select_cell("p", [busy, idle], DEMAND).name == "idle"


def test_allocation_counts():
    """Of two equally loaded Cells, the one with less allocated wins."""
    full = cell("full", allocated_cores=8, allocated_memory=30 * GIB)
    empty = cell("empty")
    assert select_cell("p", [full, empty], DEMAND).name == "empty"


def test_tie_broken_by_name():
    """Equal scores go to the first name in sort order."""
    assert select_cell("p", [cell("b"), cell("a")], DEMAND).name == "a"


def test_each_reason():
    """Each rule names its reason."""
    cases = [
        (cell("x", alive=False), "offline"),
        (cell("x", enabled=False), "disabled"),
        (cell("x", cpu_load=0.85), "CPU load 85% is above 80%"),
        (cell("x", cores=1), "has 1 cores, fewer than 2"),
        (
            cell("x", memory_available=GIB),
            f"has {GIB} bytes of memory available, needs {4 * GIB}",
        ),
        (
            cell("x", disk_available=GIB),
            f"has {GIB} bytes of disk available, needs {20 * GIB}",
        ),
        (
            cell("x", instances=3, instance_limit=3),
            "has its limit of 3 instances",
        ),
    ]
    for candidate, reason in cases:
        assert rejection(candidate, DEMAND) == reason


def test_cpu_load_limit_is_a_parameter():
    """A higher limit lets a busy Cell take the instance, and names it."""
    busy = cell("busy", cpu_load=0.9)
    assert select_cell("pool", [busy], DEMAND, max_cpu_load=1.0) is busy
    with pytest.raises(NoCellFits, match="above 85%"):
        select_cell("pool", [busy], DEMAND, max_cpu_load=0.85)


def test_cpu_load_at_limit_fits():
    """A Cell at exactly 80 % CPU load still fits."""
    assert rejection(cell("x", cpu_load=0.8), DEMAND) is None


def test_nothing_fits_lists_every_cell():
    """The error names each Cell and why it was refused."""
    cells = [cell("b", enabled=False), cell("a", alive=False)]
    try:
        select_cell("p", cells, DEMAND)
    except NoCellFits as error:
        assert error.reasons == (("a", "offline"), ("b", "disabled"))
        assert "a: offline; b: disabled" in str(error)
        assert "compute pool 'p'" in str(error)
    else:
        raise AssertionError("a Cell was picked")


def test_empty_pool():
    """The error for a pool with no Cells states that."""
    try:
        select_cell("p", [], DEMAND)
    except NoCellFits as error:
        assert "has no Cells" in str(error)
        assert error.reasons == ()
    else:
        raise AssertionError("a Cell was picked")


def test_overcommit_scores_zero_share():
    """Allocation beyond capacity counts as no free share, not less."""
    over = cell("x", allocated_cores=20, allocated_memory=100 * GIB)
    assert 0.0 <= score(over) <= 1.0


sizes = st.integers(min_value=0, max_value=64 * GIB)


@st.composite
def candidates(draw):
    """A random Cell, possibly offline, disabled, full or busy."""
    memory = draw(st.integers(min_value=1, max_value=64 * GIB))
    disk = draw(st.integers(min_value=1, max_value=64 * GIB))
    return Candidate(
        name=draw(st.text("abcdef", min_size=1, max_size=4)),
        alive=draw(st.booleans()),
        enabled=draw(st.booleans()),
        cores=draw(st.integers(min_value=0, max_value=64)),
        cpu_load=draw(st.floats(min_value=0, max_value=1)),
        memory=memory,
        memory_available=draw(st.integers(min_value=0, max_value=memory)),
        disk=disk,
        disk_available=draw(st.integers(min_value=0, max_value=disk)),
        allocated_cores=draw(st.integers(min_value=0, max_value=128)),
        allocated_memory=draw(sizes),
        allocated_disk=draw(sizes),
        instances=draw(st.integers(min_value=0, max_value=10)),
        instance_limit=draw(st.integers(min_value=0, max_value=10)),
    )


def cell_lists(min_size=0):
    """Lists of Cells with distinct names, as a pool's Cells are."""
    return st.lists(
        candidates(),
        min_size=min_size,
        max_size=12,
        unique_by=lambda candidate: candidate.name,
    )


demands = st.builds(
    Demand,
    cores=st.integers(min_value=1, max_value=32),
    memory=st.integers(min_value=1, max_value=32 * GIB),
    disk=st.integers(min_value=1, max_value=32 * GIB),
)


def fits(candidate, demand):
    """Restate the rules, independently of rejection()."""
    return (
        candidate.alive
        and candidate.enabled
        and candidate.cpu_load <= 0.8
        and not (0 < candidate.instance_limit <= candidate.instances)
        and candidate.cores >= demand.cores
        and candidate.memory_available >= demand.memory
        and candidate.disk_available >= demand.disk
    )


@given(cell_lists(), demands)
def test_never_picks_unfit(cells, demand):
    """The chosen Cell always fits; NoCellFits only when none does."""
    try:
        chosen = select_cell("p", cells, demand)
    except NoCellFits as error:
        assert not any(fits(c, demand) for c in cells)
        assert len(error.reasons) == len(cells)
    else:
        assert fits(chosen, demand)


@given(cell_lists(min_size=1), demands)
def test_picks_when_one_fits(cells, demand):
    """If a Cell fits, one is picked, with the best score of those."""
    fitting = [c for c in cells if fits(c, demand)]
    if not fitting:
        return
    chosen = select_cell("p", cells, demand)
    assert score(chosen) == max(score(c) for c in fitting)


@given(cell_lists(), demands, st.randoms())
def test_deterministic(cells, demand, random):
    """The choice does not depend on the order of the Cells."""
    shuffled = list(cells)
    random.shuffle(shuffled)
    try:
        first = select_cell("p", cells, demand)
    except NoCellFits as error:
        first = error.reasons
    try:
        second = select_cell("p", shuffled, demand)
    except NoCellFits as error:
        second = error.reasons
    assert first == second


@given(candidates(), demands)
def test_rejection_matches_rules(candidate, demand):
    """rejection() gives a reason exactly for the Cells that do not fit,
    so the reasons agree with the choice select_cell makes."""
    assert (rejection(candidate, demand) is None) == fits(candidate, demand)


@given(candidates())
def test_score_in_range(candidate):
    """Every score is within 0 and 1, and stored on the candidate."""
    assert 0.0 <= candidate.score <= 1.0
    assert candidate.score == score(candidate)

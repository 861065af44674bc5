"""
Instance states seen through the API follow the real domain while Core
and the Cell are both running: a domain stopped behind Nano's back shows
as stopped within seconds.
"""

import pytest

from .guest_helpers import create_guest, destroy_domain, wait_created
from .processes import wait_until

pytest.importorskip("libvirt")

pytestmark = [pytest.mark.slow, pytest.mark.root]

# The Cell delays a STOPPED event by 2 s in case a reboot follows, then
# reports it. Ten seconds leaves room for a loaded 2-core machine.
FOLLOW_SECONDS = 10


def test_destroyed_domain_shows_stopped(cluster):
    """A domain destroyed through libvirt shows as stopped in the API."""
    core, _, uri = cluster
    guest_id = create_guest(core)
    wait_created(core, guest_id)
    status = core.data("GET", f"/api/v1/instances/{guest_id}")
    assert status["running"] is True

    destroy_domain(uri, guest_id)

    def listed_running():
        guests = core.data("GET", "/api/v1/guest_search/?pool=p")
        return {guest["id"]: guest["running"] for guest in guests}

    wait_until(
        lambda: listed_running() == {guest_id: False},
        FOLLOW_SECONDS,
        "Core's guest list to show the destroyed domain stopped",
    )
    status = core.data("GET", f"/api/v1/instances/{guest_id}")
    assert status["running"] is False
    assert status["state"] == "stopped"

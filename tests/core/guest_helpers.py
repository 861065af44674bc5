"""
Core with guests on an in-memory fabric: fake Cells that create,
start, stop and delete instances the way ``docs/cell.md`` says a Cell
does, without libvirt, and can fail or hold a request when a test asks.
"""

from api_helpers import HOST, Reply
from cluster_helpers import GIB, ClusterTestCase, FakeCell
from twisted.internet.defer import Deferred

from nano.messages import (
    CreateInstanceRequest,
    CreateInstanceResponse,
    DeleteInstanceRequest,
    DeleteInstanceResponse,
    EjectMediaRequest,
    EjectMediaResponse,
    GetInstanceStatusRequest,
    GetInstanceStatusResponse,
    InsertMediaRequest,
    InsertMediaResponse,
    ModifyInstanceRequest,
    ModifyInstanceResponse,
    StartInstanceRequest,
    StartInstanceResponse,
    StopInstanceRequest,
    StopInstanceResponse,
)

TEMPLATE = "t1"


class InstanceCell(FakeCell):
    """
    A fake Cell that hosts instances.

    :ivar hosted: instance descriptions by id.
    :ivar fail: the error it replies, by message type name.
    :ivar hold: the message type names it does not answer.
    :ivar received: every instance request, in order.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hosted = {}
        self.fail = {}
        self.hold = set()
        self.received = []
        handlers = {
            CreateInstanceRequest: self._create,
            DeleteInstanceRequest: self._delete,
            StartInstanceRequest: self._start,
            StopInstanceRequest: self._stop,
            GetInstanceStatusRequest: self._status,
            ModifyInstanceRequest: self._modify,
            InsertMediaRequest: self._insert,
            EjectMediaRequest: self._eject,
        }
        for message_type, handler in handlers.items():
            self.session.handle(message_type, self._checked(handler))

    def _checked(self, handler):
        def handle(peer, message):
            self.received.append(message)
            name = message.type_name
            if name in self.fail:
                raise RuntimeError(self.fail[name])
            if name in self.hold:
                return Deferred()
            return handler(message)

        return handle

    def _create(self, message):
        instance = {
            "id": message.instance_id,
            "name": message.name,
            "state": "stopped",
            "cores": message.cores,
            "memory": message.memory,
            "disks": list(message.disks),
            "template": message.template,
        }
        self.hosted[message.instance_id] = instance
        return CreateInstanceResponse(
            task_id=message.task_id,
            instance_id=message.instance_id,
            instance=instance,
        )

    def _delete(self, message):
        self.hosted.pop(message.instance_id, None)
        return DeleteInstanceResponse(
            task_id=message.task_id, instance_id=message.instance_id
        )

    def _start(self, message):
        if message.from_media is not None:
            self._media(message.instance_id, message.from_media["id"])
        return self._power(message, "running", StartInstanceResponse)

    def _insert(self, message):
        self._media(message.instance_id, message.media["id"])
        return InsertMediaResponse(
            task_id=message.task_id, instance_id=message.instance_id
        )

    def _eject(self, message):
        self._media(message.instance_id, None)
        return EjectMediaResponse(
            task_id=message.task_id, instance_id=message.instance_id
        )

    def _media(self, instance_id, media):
        instance = self.hosted.get(instance_id)
        if instance is None:
            raise KeyError(f"no instance {instance_id}")
        instance["media"] = media

    def _stop(self, message):
        state = "running" if message.reboot else "stopped"
        return self._power(message, state, StopInstanceResponse)

    def _power(self, message, state, reply_type):
        instance = self.hosted.get(message.instance_id)
        if instance is None:
            raise KeyError(f"no instance {message.instance_id}")
        instance["state"] = state
        return reply_type(
            task_id=message.task_id,
            instance_id=message.instance_id,
            state=state,
        )

    def _modify(self, message):
        instance = self.hosted.get(message.instance_id)
        if instance is None:
            raise KeyError(f"no instance {message.instance_id}")
        for key in ("cores", "memory", "auto_start"):
            if getattr(message, key) is not None:
                instance[key] = getattr(message, key)
        live = message.immediate and instance["state"] == "running"
        return ModifyInstanceResponse(
            task_id=message.task_id,
            instance_id=message.instance_id,
            live=live,
            state=instance["state"],
        )

    def _status(self, message):
        instance = self.hosted.get(message.instance_id)
        if instance is None:
            raise KeyError(f"no instance {message.instance_id}")
        return GetInstanceStatusResponse(
            instance_id=message.instance_id, instance=instance
        )


class GuestTestCase(ClusterTestCase):
    """Core with a pool ``p1`` of Cells that host instances."""

    def setUp(self):
        super().setUp()
        self.ids = iter(f"g{number}" for number in range(1, 1000))
        self.api.guests.make_id = lambda: next(self.ids)
        self.assert_ok(self.call("POST", "/api/v1/compute_pools/p1", {}))
        self.assert_ok(self.call("POST", "/api/v1/templates/", CENTOS))

    def start_core(self):
        """Build Core, and give its guests predictable ids."""
        super().start_core()
        if hasattr(self, "ids"):
            self.api.guests.make_id = lambda: next(self.ids)

    def send(self, method, path, headers, data=b""):
        """
        Send a request as :class:`ApiTestCase` does, letting the fabric
        carry Core's requests to the Cells and their replies first.
        """
        responding = self.stub.request(
            method, f"http://{HOST}{path}", headers=headers, data=data
        )
        self.advance(0.5)
        self.stub.flush()
        response = self.successResultOf(responding)
        content = response.content()
        self.stub.flush()
        return Reply(
            response.code, self.successResultOf(content), response.headers
        )

    def add_instance_cell(self, name, **report):
        """Start a Cell, add it to ``p1`` and have it report."""
        number = len(self.cells) + 2
        cell = InstanceCell(self.network, name, (f"10.213.8.{number}", 5600))
        self.cells[name] = cell
        cell.connect()
        self.advance(2, until=lambda: self.cluster.cell(name) is not None)
        self.advance(0.1)
        self.assert_ok(
            self.call("POST", f"/api/v1/compute_pool_cells/p1/{name}", {})
        )
        self.advance(0.1)
        cell.report(**report)
        self.advance(0.1)
        return cell

    def create(self, **fields):
        """Ask for a guest; return the reply."""
        body = {
            "name": "vm1",
            "owner": "admin",
            "group": "manager",
            "pool": "p1",
            "cores": 2,
            "memory": 2 * GIB,
            "disks": [10 * GIB],
            "template": TEMPLATE,
            "auto_start": True,
        }
        body.update(fields)
        return self.call("POST", "/api/v1/guests/", body)

    def guest(self, guest_id):
        """Return the data of ``GET /guests/<id>``."""
        reply = self.call("GET", f"/api/v1/guests/{guest_id}")
        self.assert_ok(reply)
        return reply.data


CENTOS = {
    "name": "CentOS 7",
    "admin": "root",
    "operating_system": "linux",
    "disk": "scsi",
    "network": "virtio",
    "display": "vga",
    "control": "vnc",
    "usb": "nec-xhci",
    "tablet": "usb",
}

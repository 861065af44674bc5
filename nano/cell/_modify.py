"""
The Cell's handler of ``ModifyInstanceRequest``: changes an instance's
vCPUs, memory and autostart in its libvirt domain, and its administrator
credentials in its cloud-init seed ISO.
"""

import xml.etree.ElementTree as ET

from twisted.logger import Logger

from nano.messages import ModifyInstanceRequest, ModifyInstanceResponse

from ._handlers import CellError


class ModifyHandler:
    """
    The handler of Core's changes to an instance's domain: to its
    definition, for the next start, and to the running domain too when
    the request sets ``immediate``.

    :param handlers: the Cell's
        :class:`~nano.cell._handlers.InstanceHandlers`, whose instance
        lock, readiness wait and error replies this handler shares.
    """

    log = Logger()

    def __init__(self, handlers):
        self._handlers = handlers

    def register(self, session):
        """Handle the ``ModifyInstanceRequest`` that arrive on ``session``."""
        # NOTE: _handler runs the request under the instance's lock, once
        # the Cell is ready, and replies errors the way every handler does.
        session.handle(
            ModifyInstanceRequest, self._handlers._handler(self.modify)
        )

    async def modify(self, request):
        """Apply the changes of ``request`` to the instance's domain."""
        instance = self._handlers._require(request.instance_id)
        self._handlers._require_state(
            instance, ("stopped", "running"), "modify"
        )
        guest = await self._handlers._require_guest(instance)
        live = request.immediate and instance.state == "running"
        if live and request.cores is not None:
            await self._check_live_cores(guest, request.cores)
        if live and request.memory is not None:
            await self._check_live_memory(guest, request.memory)
        # TODO: journal the new cores and memory in the Cell's journal,
        # which has no event for them yet. Until then the Cell describes
        # the instance with the values it was created with.
        if request.cores is not None:
            await guest.set_vcpus(request.cores, live)
        if request.memory is not None:
            await guest.set_memory(request.memory, live)
        if request.auto_start is not None:
            await guest.set_autostart(request.auto_start)
        if request.admin_name is not None or request.admin_secret is not None:
            await self._rebuild_seed(request)
        self._log(request, live)
        return ModifyInstanceResponse(
            task_id=request.task_id,
            instance_id=instance.id,
            live=live,
            state=instance.state,
        )

    async def _rebuild_seed(self, request):
        seeds = self._handlers.seeds
        if not seeds.exists(request.instance_id):
            raise CellError(
                f"instance {request.instance_id} has no cloud-init seed ISO,"
                " because it was created without cloud-init settings;"
                " recreate it with cloud_init to set its administrator"
            )
        # TODO: a guest that has run cloud-init with this instance-id
        # keeps its old password. Setting it in the running guest needs
        # the QEMU guest agent (libvirt's setUserPassword).
        await seeds.rebuild(
            request.instance_id, request.admin_name, request.admin_secret
        )

    async def _check_live_cores(self, guest, cores):
        # The running domain's <vcpu> is the most vCPUs it can hotplug.
        root = ET.fromstring(await guest.xml())
        maximum = int(root.findtext("vcpu", "0"))
        if cores > maximum:
            raise CellError(
                f"invalid cores {cores}: a running instance cannot grow "
                f"above the {maximum} vCPUs it started with; leave out "
                "immediate to change them at the next start"
            )

    async def _check_live_memory(self, guest, memory):
        info = await guest.info()
        if memory > info.max_memory:
            raise CellError(
                f"invalid memory {memory}: a running instance cannot grow "
                f"above the {info.max_memory} bytes it started with; leave "
                "out immediate to change it at the next start"
            )

    def _log(self, request, live):
        self.log.info(
            "Modified instance {instance_id} for task {task_id}: cores "
            "{cores}, memory {memory}, autostart {auto_start}, live {live}, "
            "administrator {admin_name}",
            instance_id=request.instance_id,
            task_id=request.task_id,
            cores=request.cores,
            memory=request.memory,
            auto_start=request.auto_start,
            live=live,
            admin_name=request.admin_name,
        )

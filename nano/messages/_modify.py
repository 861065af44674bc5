"""
The request from Core to a Cell that changes an instance's cores,
memory, autostart or administrator credentials, and its reply.
"""

from nano.fabric import Message

from ._fields import field, flag, optional_text, text
from ._registry import NANO_MESSAGES


def _optional_positive(instance, attribute, value):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError(
            f"invalid {attribute.name} {value!r}: must be a whole number, "
            "1 or more, or null"
        )


def _optional_flag(instance, attribute, value):
    if value is not None and not isinstance(value, bool):
        raise TypeError(
            f"invalid {attribute.name} {value!r}: must be true, false or null"
        )


@NANO_MESSAGES.message("ModifyInstanceRequest")
class ModifyInstanceRequest(Message):
    """
    Change an instance's settings. A null field is left as it is.

    :ivar cores: vCPUs.
    :ivar memory: bytes.
    :ivar auto_start: whether libvirt starts the domain with the host.
    :ivar immediate: also change cores and memory of the running domain
        (CPU hotplug and the memory balloon). Without it, or when the
        instance is stopped, they take effect at its next start.
    :ivar admin_name: the administrator's new user name, for the
        cloud-init seed ISO.
    :ivar admin_secret: the administrator's new password. With either
        field, the Cell rebuilds the instance's seed ISO, which the guest
        reads at its next boot. It is secret: never log it.
    """

    task_id: str = field(text)
    instance_id: str = field(text)
    cores: int | None = field(_optional_positive, default=None)
    memory: int | None = field(_optional_positive, default=None)
    auto_start: bool | None = field(_optional_flag, default=None)
    immediate: bool = field(flag, default=False)
    admin_name: str | None = field(optional_text, default=None)
    admin_secret: str | None = field(optional_text, default=None)


@NANO_MESSAGES.message("ModifyInstanceResponse")
class ModifyInstanceResponse(Message):
    """
    The change is in the domain's definition. ``live`` is true when the
    running domain took it too.
    """

    task_id: str = field(text)
    instance_id: str = field(text)
    live: bool = field(flag, default=False)
    state: str | None = field(optional_text, default=None)

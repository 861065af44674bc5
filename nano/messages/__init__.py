"""
The messages Core and Cells exchange over the fabric: one registry,
:data:`NANO_MESSAGES`, shared by both sides.

Sizes are in bytes. Every request a Core task sends carries the task's
``task_id``, and the reply carries it back, so that a saga can match
replies and journal lines to its steps. Unknown fields are ignored, so a
newer node may add fields. ``docs/messages.md`` lists every message.
"""

from ._cell import (
    INSTANCE_STATES,
    CellStatusReport,
    ComputeCellReady,
    ComputePoolReady,
    InstanceDeleted,
    InstanceStarted,
    InstanceStopped,
)
from ._instances import (
    TEMPLATE_KEYS,
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
    StartInstanceRequest,
    StartInstanceResponse,
    StopInstanceRequest,
    StopInstanceResponse,
)
from ._modify import ModifyInstanceRequest, ModifyInstanceResponse
from ._references import IMAGE_KINDS, NETWORK_PROVIDERS
from ._registry import NANO_MESSAGES

__all__ = [
    "IMAGE_KINDS",
    "INSTANCE_STATES",
    "NANO_MESSAGES",
    "NETWORK_PROVIDERS",
    "TEMPLATE_KEYS",
    "CellStatusReport",
    "ComputeCellReady",
    "ComputePoolReady",
    "CreateInstanceRequest",
    "CreateInstanceResponse",
    "DeleteInstanceRequest",
    "DeleteInstanceResponse",
    "EjectMediaRequest",
    "EjectMediaResponse",
    "GetInstanceStatusRequest",
    "GetInstanceStatusResponse",
    "InsertMediaRequest",
    "InsertMediaResponse",
    "InstanceDeleted",
    "InstanceStarted",
    "InstanceStopped",
    "ModifyInstanceRequest",
    "ModifyInstanceResponse",
    "StartInstanceRequest",
    "StartInstanceResponse",
    "StopInstanceRequest",
    "StopInstanceResponse",
]

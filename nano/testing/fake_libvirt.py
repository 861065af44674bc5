"""
An in-memory stand-in for the ``libvirt`` module, for fast unit tests.

:class:`FakeLibvirt` has the part of libvirt-python's API that
:mod:`nano.cell.libvirt` uses, with libvirt's error codes and lifecycle
events. Where libvirt's ``test:///default`` driver and its QEMU driver
differ, as for starting a running domain, the fake follows QEMU. The
contract tests in ``tests/cell`` run against the fake and the test
driver. Like a libvirt daemon, one instance keeps its domains for all
the connections opened on it, and it can simulate a daemon restart and
guests that power off or crash.
"""

import threading
import uuid as uuid_module
import xml.etree.ElementTree as ET

from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

from nano.cell.libvirt import Host

VIR_DOMAIN_EVENT_ID_LIFECYCLE = 0
VIR_DOMAIN_AFFECT_LIVE = 1
VIR_DOMAIN_AFFECT_CONFIG = 2
VIR_DOMAIN_MEM_MAXIMUM = 4
VIR_DOMAIN_VCPU_MAXIMUM = 4
VIR_DOMAIN_XML_SECURE = 1
VIR_DOMAIN_XML_INACTIVE = 2
VIR_CONNECT_LIST_DOMAINS_ACTIVE = 1
VIR_CONNECT_LIST_DOMAINS_INACTIVE = 2

VIR_ERR_INTERNAL_ERROR = 1
VIR_ERR_NO_SUPPORT = 3
VIR_ERR_INVALID_ARG = 8
VIR_ERR_OPERATION_FAILED = 9
VIR_ERR_XML_ERROR = 27
VIR_ERR_SYSTEM_ERROR = 38
VIR_ERR_NO_DOMAIN = 42
VIR_ERR_OPERATION_INVALID = 55
VIR_FROM_RPC = 7
VIR_FROM_TEST = 12

# virDomainState
_RUNNING, _PAUSED, _SHUTOFF = 1, 3, 5
# virDomainEventType and details
_DEFINED, _UNDEFINED, _STARTED, _SUSPENDED, _RESUMED = 0, 1, 2, 3, 4
_STOPPED, _SHUTDOWN = 5, 6
_ADDED, _UPDATED = 0, 1
_STOPPED_SHUTDOWN, _STOPPED_DESTROYED, _STOPPED_FAILED = 0, 1, 5
_CLOSE_REASON_EOF = 1


class libvirtError(Exception):  # noqa: N801 - libvirt-python's name
    """A libvirt failure with libvirt's error code and domain."""

    def __init__(self, message, code, domain=VIR_FROM_TEST):
        super().__init__(message)
        self._message = message
        self._code = code
        self._domain = domain

    def get_error_code(self):
        """Return the ``virErrorNumber``."""
        return self._code

    def get_error_domain(self):
        """Return the ``virErrorDomain``: which part of libvirt failed."""
        return self._domain

    def get_error_message(self):
        """Return libvirt's message."""
        return self._message


def _not_found(key):
    return libvirtError(
        f"Domain not found: no domain with matching {key}", VIR_ERR_NO_DOMAIN
    )


def _not_running():
    return libvirtError(
        "Requested operation is not valid: domain is not running",
        VIR_ERR_OPERATION_INVALID,
    )


class FakeLibvirt:
    """
    The fake ``libvirt`` module: pass it where a module is expected.

    :ivar refuse_connections: when true, :meth:`open` fails as if
        libvirtd were not running.
    :ivar opened: how many connections were opened.
    """

    libvirtError = libvirtError

    def __init__(self, cores=16, memory_mib=3072, free_memory=3145728):
        self._lock = threading.RLock()
        self._domains = {}
        self._connections = []
        self._loop_wakeup = threading.Event()
        self._info = ["x86_64", memory_mib, cores, 1400, 1, 1, cores, 1]
        self._free_memory = free_memory
        self._next_id = 1
        self.refuse_connections = False
        self.opened = 0
        self.error_handler = None

    def __getattr__(self, name):
        if name.startswith("VIR_"):
            value = globals().get(name)
            if value is not None:
                return value
        raise AttributeError(name)

    def registerErrorHandler(self, handler, context):
        """Keep the handler; the fake prints nothing anyway."""
        self.error_handler = handler

    def virEventRegisterDefaultImpl(self):
        """Do nothing: the fake delivers events without an event loop."""

    def virEventRunDefaultImpl(self):
        """Block, as libvirt's loop does while no event is due."""
        self._loop_wakeup.wait(60)

    def open(self, uri):
        """Open a :class:`FakeConnection`."""
        with self._lock:
            if self.refuse_connections:
                raise libvirtError(
                    f"Failed to connect socket to {uri!r}: "
                    "No such file or directory",
                    VIR_ERR_SYSTEM_ERROR,
                    VIR_FROM_RPC,
                )
            connection = FakeConnection(self, uri)
            self._connections.append(connection)
            self.opened += 1
            return connection

    def restart_daemon(self):
        """
        Close every open connection as a restarted libvirtd would; the
        domains survive.
        """
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.lose(_CLOSE_REASON_EOF)

    def domain(self, name):
        """Return the :class:`FakeDomain` called ``name``, for tests."""
        with self._lock:
            for domain in self._domains.values():
                if domain.name() == name:
                    return domain
        raise _not_found(f"name '{name}'")

    def emit(self, domain, event, detail):
        """Send a lifecycle event to every connection's callbacks."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.emit(domain, event, detail)

    def define(self, domain_xml):
        """Define or update a domain from its XML."""
        root = _parse(domain_xml)
        name = root.findtext("name")
        uuid = (root.findtext("uuid") or str(uuid_module.uuid4())).lower()
        with self._lock:
            existing = self._domains.get(uuid)
            if existing is None:
                self._raise_if_name_taken(name)
            _set_text(root, "uuid", uuid, after="name")
            if existing is not None:
                existing.replace_definition(root)
                self.emit(existing, _DEFINED, _UPDATED)
                return existing
            domain = FakeDomain(self, root)
            self._domains[uuid] = domain
        self.emit(domain, _DEFINED, _ADDED)
        return domain

    def lookup(self, key, value):
        """Find a domain by ``"name"`` or ``"uuid"``."""
        with self._lock:
            for domain in self._domains.values():
                found = domain.name() if key == "name" else domain.uuid
                if found == value:
                    return domain
        raise _not_found(f"{key} '{value}'")

    def domains(self):
        """Return every domain."""
        with self._lock:
            return list(self._domains.values())

    def remove(self, domain):
        """Forget a domain, once undefined and stopped."""
        with self._lock:
            self._domains.pop(domain.uuid, None)

    def allocate_id(self):
        """Return the next running-domain id, as libvirt counts them."""
        with self._lock:
            self._next_id += 1
            return self._next_id

    def node_info(self):
        """Return ``getInfo()``'s list and the free memory."""
        return list(self._info), self._free_memory

    def _raise_if_name_taken(self, name):
        for domain in self._domains.values():
            if domain.name() == name:
                raise libvirtError(
                    f"operation failed: domain '{name}' already exists "
                    f"with uuid {domain.uuid}",
                    VIR_ERR_OPERATION_FAILED,
                )


def _parse(domain_xml):
    try:
        root = ET.fromstring(domain_xml)
    except ET.ParseError as error:
        raise libvirtError(f"XML error: {error}", VIR_ERR_XML_ERROR) from None
    name = root.findtext("name")
    if root.tag != "domain" or not name:
        raise libvirtError(
            "XML error: missing domain name information", VIR_ERR_XML_ERROR
        )
    if "/" in name:
        raise libvirtError(
            f"XML error: name {name} cannot contain '/'", VIR_ERR_XML_ERROR
        )
    return root


def _set_text(root, tag, text, after=None):
    element = root.find(tag)
    if element is None:
        element = ET.Element(tag)
        position = list(root).index(root.find(after)) + 1 if after else 0
        root.insert(position, element)
    element.text = text
    return element


_KIB_PER_UNIT = {"b": 1 / 1024, "KiB": 1, "MiB": 1024, "GiB": 1024 * 1024}


def _vcpus(root, maximum):
    """Read the maximum or current vCPU count of a definition."""
    vcpu = root.find("vcpu")
    if vcpu is None:
        return 1
    if maximum:
        return int(vcpu.text)
    return int(vcpu.get("current", vcpu.text))


def _change_media(root, update):
    """Put the source of ``update`` in the CD-ROM drive of its target."""
    target = update.find("target").get("dev")
    for disk in root.iter("disk"):
        if disk.find("target").get("dev") != target:
            continue
        if disk.get("device") != "cdrom":
            break
        for source in disk.findall("source"):
            disk.remove(source)
        source = update.find("source")
        if source is not None:
            disk.insert(1, ET.fromstring(ET.tostring(source)))
        return
    raise libvirtError(
        f"invalid argument: target {target} is no CD-ROM drive",
        VIR_ERR_INVALID_ARG,
    )


def _kib(element):
    """Read a libvirt memory element in KiB; libvirt's default unit."""
    unit = element.get("unit", "KiB")
    return int(int(element.text) * _KIB_PER_UNIT[unit])


class FakeConnection:
    """A connection to a :class:`FakeLibvirt`, like ``virConnect``."""

    def __init__(self, libvirt, uri):
        self._libvirt = libvirt
        self._uri = uri
        self._callbacks = {}
        self._close_callback = None
        self._alive = True
        self._next_callback_id = 0

    def _check(self):
        if not self._alive:
            raise libvirtError(
                "internal error: client socket is closed",
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_RPC,
            )

    def getURI(self):
        """Return the URI the connection was opened with."""
        return self._uri

    def isAlive(self):
        """Return 1 while the connection is open."""
        return int(self._alive)

    def setKeepAlive(self, interval, count):
        """Fail as libvirt's local drivers do: keepalive is remote only."""
        raise libvirtError(
            "this function is not supported by the connection driver: "
            "virConnectSetKeepAlive",
            VIR_ERR_NO_SUPPORT,
        )

    def registerCloseCallback(self, callback, opaque):
        """Call ``callback(connection, reason, opaque)`` on close."""
        self._check()
        self._close_callback = (callback, opaque)
        return 0

    def unregisterCloseCallback(self):
        """Forget the close callback."""
        self._check()
        self._close_callback = None
        return 0

    def domainEventRegisterAny(self, domain, event_id, callback, opaque):
        """Register a lifecycle callback; returns its id."""
        self._check()
        if event_id != VIR_DOMAIN_EVENT_ID_LIFECYCLE:
            raise libvirtError(
                f"unsupported event ID {event_id}", VIR_ERR_INVALID_ARG
            )
        self._next_callback_id += 1
        self._callbacks[self._next_callback_id] = (callback, opaque)
        return self._next_callback_id

    def domainEventDeregisterAny(self, callback_id):
        """Remove a lifecycle callback by its id."""
        self._check()
        del self._callbacks[callback_id]

    def close(self):
        """Close the connection."""
        self._alive = False
        self._callbacks.clear()
        return 0

    def defineXML(self, domain_xml):
        """Define or update a persistent domain."""
        self._check()
        return self._libvirt.define(domain_xml)

    def lookupByName(self, name):
        """Find a domain by name."""
        self._check()
        return self._libvirt.lookup("name", name)

    def lookupByUUIDString(self, uuid):
        """Find a domain by UUID."""
        self._check()
        return self._libvirt.lookup("uuid", uuid.lower())

    def listAllDomains(self, flags=0):
        """List domains; flags select active or inactive ones."""
        self._check()
        domains = self._libvirt.domains()
        if flags & VIR_CONNECT_LIST_DOMAINS_ACTIVE:
            domains = [domain for domain in domains if domain.isActive()]
        if flags & VIR_CONNECT_LIST_DOMAINS_INACTIVE:
            domains = [domain for domain in domains if not domain.isActive()]
        return domains

    def getInfo(self):
        """Return the node info list: model, MiB, CPUs, MHz, topology."""
        self._check()
        return self._libvirt.node_info()[0]

    def getFreeMemory(self):
        """Return free memory in bytes."""
        self._check()
        return self._libvirt.node_info()[1]

    def emit(self, domain, event, detail):
        """Call this connection's lifecycle callbacks."""
        for callback, opaque in list(self._callbacks.values()):
            callback(self, domain, event, detail, opaque)

    def lose(self, reason, notify=True):
        """
        Close from the daemon's side, and with ``notify`` call the close
        callback (libvirt calls it from its event loop, a little later).
        """
        self._alive = False
        self._callbacks.clear()
        if notify and self._close_callback is not None:
            callback, opaque = self._close_callback
            callback(self, reason, opaque)


class FakeDomain:
    """A domain of a :class:`FakeLibvirt`, like ``virDomain``."""

    def __init__(self, libvirt, root):
        self._libvirt = libvirt
        self._root = root  # the persistent definition
        self._live = None  # the running definition, while active
        self.uuid = root.findtext("uuid")
        self._state = _SHUTOFF
        self._id = -1
        self._autostart = False
        self._persistent = True

    def name(self):
        """Return the domain name."""
        return self._root.findtext("name")

    def UUIDString(self):
        """Return the UUID."""
        return self.uuid

    def ID(self):
        """Return the running id, or -1 when stopped."""
        return self._id

    def isActive(self):
        """Return 1 while running or paused."""
        return int(self._state != _SHUTOFF)

    def isPersistent(self):
        """Return 1 while defined."""
        return int(self._persistent)

    def state(self, flags=0):
        """Return ``[state, reason]``."""
        return [self._state, 1 if self._state == _RUNNING else 0]

    def replace_definition(self, root):
        """Take a new definition, used from the next start."""
        self._root = root

    def create(self):
        """Start the domain."""
        if self.isActive():
            raise libvirtError(
                "Requested operation is not valid: domain is already running",
                VIR_ERR_OPERATION_INVALID,
            )
        self._set_running(_STARTED, 0)

    def shutdown(self):
        """Ask the guest to power off; this fake guest always obeys."""
        self._require_active()
        self._stop(_STOPPED_SHUTDOWN)

    def destroy(self):
        """Stop at once."""
        self._require_active()
        self._stop(_STOPPED_DESTROYED)

    def suspend(self):
        """Pause the running domain."""
        self._require_active()
        self._state = _PAUSED
        self._libvirt.emit(self, _SUSPENDED, 0)

    def resume(self):
        """Resume the paused domain."""
        self._require_active()
        self._state = _RUNNING
        self._libvirt.emit(self, _RESUMED, 0)

    def undefine(self):
        """Remove the definition; a running domain becomes transient."""
        self._persistent = False
        if not self.isActive():
            self._libvirt.remove(self)
        self._libvirt.emit(self, _UNDEFINED, 0)

    def power_off_from_guest(self):
        """Simulate a shutdown from inside the guest, for tests."""
        self._require_active()
        self._libvirt.emit(self, _SHUTDOWN, 0)
        self._stop(_STOPPED_SHUTDOWN)

    def crash(self):
        """Simulate QEMU dying, for tests."""
        self._require_active()
        self._stop(_STOPPED_FAILED)

    def info(self):
        """Return state, max KiB, KiB, vCPUs and CPU time (always 0)."""
        root = self._current()
        max_kib = _kib(root.find("memory"))
        current = root.find("currentMemory")
        kib = max_kib if current is None else _kib(current)
        return [self._state, max_kib, kib, _vcpus(root, maximum=False), 0]

    def updateDeviceFlags(self, device_xml, flags):
        """
        Update the graphics device's password, or the media in a CD-ROM
        drive; nothing else.
        """
        if flags & VIR_DOMAIN_AFFECT_LIVE and not self.isActive():
            raise _not_running()
        update = ET.fromstring(device_xml)
        if update.tag == "disk" and update.get("device") == "cdrom":
            for root in self._definitions(flags):
                _change_media(root, update)
            return 0
        for root in self._definitions(flags):
            graphics = root.find("devices/graphics")
            if update.tag != "graphics" or graphics is None:
                raise libvirtError(
                    "this function is not supported by the fake: "
                    f"update of <{update.tag}>",
                    VIR_ERR_NO_SUPPORT,
                )
            for name in ("passwd", "passwdValidTo"):
                graphics.attrib.pop(name, None)
                if update.get(name) is not None:
                    graphics.set(name, update.get(name))
        return 0

    def XMLDesc(self, flags=0):
        """Return the XML; the VNC/SPICE password only with SECURE."""
        source = self._root
        if self.isActive() and not flags & VIR_DOMAIN_XML_INACTIVE:
            source = self._live
        root = ET.fromstring(ET.tostring(source))
        if source is self._live:
            root.set("id", str(self._id))
        if not flags & VIR_DOMAIN_XML_SECURE:
            for graphics in root.iter("graphics"):
                graphics.attrib.pop("passwd", None)
        return ET.tostring(root, encoding="unicode")

    def autostart(self):
        """Return 1 if the domain starts with the host."""
        return int(self._autostart)

    def setAutostart(self, enabled):
        """Set whether the domain starts with the host."""
        self._autostart = bool(enabled)
        return 0

    def setMemoryFlags(self, kib, flags):
        """
        Set the maximum (MEM_MAXIMUM) or current memory in KiB, of the
        running domain (LIVE) or of the next start (CONFIG).
        """
        for root in self._definitions(flags):
            if flags & VIR_DOMAIN_MEM_MAXIMUM:
                _set_text(root, "memory", str(kib)).set("unit", "KiB")
                current = root.find("currentMemory")
                if current is not None and _kib(current) > kib:
                    _set_text(root, "currentMemory", str(kib))
                continue
            if kib > _kib(root.find("memory")):
                raise libvirtError(
                    "invalid argument: cannot set memory higher than max "
                    "memory",
                    VIR_ERR_INVALID_ARG,
                )
            _set_text(root, "currentMemory", str(kib)).set("unit", "KiB")
        return 0

    def vcpusFlags(self, flags):
        """Return the current or (VCPU_MAXIMUM) maximum vCPU count."""
        (root,) = self._definitions(flags & ~VIR_DOMAIN_VCPU_MAXIMUM)
        return _vcpus(root, maximum=bool(flags & VIR_DOMAIN_VCPU_MAXIMUM))

    def setVcpusFlags(self, count, flags):
        """Set the current or (VCPU_MAXIMUM) maximum vCPU count."""
        for root in self._definitions(flags & ~VIR_DOMAIN_VCPU_MAXIMUM):
            vcpu = root.find("vcpu")
            if flags & VIR_DOMAIN_VCPU_MAXIMUM:
                current = min(_vcpus(root, maximum=False), count)
                vcpu.text = str(count)
            elif count > _vcpus(root, maximum=True):
                raise libvirtError(
                    "invalid argument: requested cpu amount exceeds maximum "
                    f"({count} > {_vcpus(root, maximum=True)})",
                    VIR_ERR_INVALID_ARG,
                )
            else:
                current = count
            vcpu.attrib.pop("current", None)
            if current != int(vcpu.text):
                vcpu.set("current", str(current))
        return 0

    def _definitions(self, flags):
        """Return the definitions that ``flags`` (AFFECT_*) select."""
        if flags & VIR_DOMAIN_AFFECT_LIVE and not self.isActive():
            raise _not_running()
        if not flags & (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG):
            return [self._current()]
        roots = []
        if flags & VIR_DOMAIN_AFFECT_LIVE:
            roots.append(self._live)
        if flags & VIR_DOMAIN_AFFECT_CONFIG:
            roots.append(self._root)
        return roots

    def _current(self):
        return self._live if self.isActive() else self._root

    def blockStats(self, device):
        """Return zero counters for a disk target or source path."""
        self._require_active()
        if not self._has_disk(device):
            raise libvirtError(
                f"invalid argument: invalid path: {device}",
                VIR_ERR_INVALID_ARG,
            )
        return (0, 0, 0, 0, 0)

    def interfaceStats(self, device):
        """Return zero counters for an interface's device name or MAC."""
        self._require_active()
        if not self._has_interface(device):
            raise libvirtError(
                f"invalid argument: '{device}' is not a known interface",
                VIR_ERR_INVALID_ARG,
            )
        return (0, 0, 0, 0, 0, 0, 0, 0)

    def _has_disk(self, device):
        for disk in self._current().iter("disk"):
            target = disk.find("target")
            source = disk.find("source")
            if target is not None and target.get("dev") == device:
                return True
            if source is not None and source.get("file") == device:
                return True
        return False

    def _has_interface(self, device):
        for interface in self._current().iter("interface"):
            mac = interface.find("mac")
            target = interface.find("target")
            if mac is not None and mac.get("address") == device.lower():
                return True
            if target is not None and target.get("dev") == device:
                return True
        return False

    def _require_active(self):
        if not self.isActive():
            raise _not_running()

    def _set_running(self, event, detail):
        self._live = ET.fromstring(ET.tostring(self._root))
        self._state = _RUNNING
        self._id = self._libvirt.allocate_id()
        self._libvirt.emit(self, event, detail)

    def _stop(self, detail):
        self._live = None
        self._state = _SHUTOFF
        self._id = -1
        if not self._persistent:
            self._libvirt.remove(self)
        self._libvirt.emit(self, _STOPPED, detail)


class ImmediateThread:
    """
    Runs "libvirt thread" calls at once on the calling thread, so unit
    tests with a fake libvirt can use ``successResultOf``.
    """

    def start(self):
        """Do nothing: there is no thread."""

    def stop(self):
        """Do nothing: there is no thread."""

    def run(self, function, *args, **kwargs):
        """Call the function now; return a Deferred with its result."""
        return maybeDeferred(function, *args, **kwargs)


class ThreadlessClock(Clock):
    """
    A :class:`~twisted.internet.task.Clock` whose ``callFromThread`` calls
    at once, for tests that run "threaded" code on the test's thread.
    """

    def callFromThread(self, function, *args, **kwargs):
        """Call the function now."""
        function(*args, **kwargs)


def fake_host(libvirt=None, uri="fake:///default", **options):
    """
    Build a stopped :class:`nano.cell.libvirt.Host` on a fake libvirt,
    with no threads: every call completes before it returns.

    :return: ``(host, libvirt, clock)``; advance the clock to release held
        STOPPED events and to reconnect.
    """
    libvirt = libvirt if libvirt is not None else FakeLibvirt()
    clock = ThreadlessClock()
    options.setdefault("thread", ImmediateThread())
    host = Host(
        clock,
        uri,
        libvirt=libvirt,
        event_loop=lambda module: None,
        **options,
    )
    return host, libvirt, clock

"""
The threads that libvirt calls run on: one worker for every blocking call,
and libvirt's own event loop.
"""

import threading
import time

from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool


class LibvirtThread:
    """
    One thread that runs blocking libvirt calls one at a time, in the order
    they were submitted, so that the reactor thread does not wait on them.

    :param reactor: the reactor that receives the results.
    """

    def __init__(self, reactor, name="libvirt"):
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name=name)
        self._shutdown_trigger = None

    def start(self):
        """
        Start the thread. It also stops when the reactor shuts down, so a
        forgotten :meth:`stop` cannot keep the process alive.
        """
        self._pool.start()
        self._shutdown_trigger = self._reactor.addSystemEventTrigger(
            "during", "shutdown", self._stop_pool
        )

    def stop(self):
        """
        Stop the thread after the call in progress, if any, returns.

        This blocks until the thread exits.
        """
        if self._shutdown_trigger is not None:
            self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
            self._shutdown_trigger = None
        self._stop_pool()

    def _stop_pool(self):
        self._shutdown_trigger = None
        if self._pool.started:
            self._pool.stop()

    def run(self, function, *args, **kwargs):
        """
        Call ``function(*args, **kwargs)`` on the libvirt thread.

        :return: a Deferred that fires on the reactor thread with the
            result, or fails with the exception raised.
        """
        return deferToThreadPool(
            self._reactor, self._pool, function, *args, **kwargs
        )


_event_loops = {}
_event_loops_lock = threading.Lock()


def start_event_loop(libvirt):
    """
    Register libvirt's default event loop and run it on a daemon thread.

    libvirt delivers domain events and notices a closed connection only
    while this loop runs. The registration is global to the process and
    must come before the first connection is opened, so this starts at
    most one loop per libvirt module and returns at once on later calls.

    :param libvirt: the ``libvirt`` module, or a fake with the same API.
    """
    with _event_loops_lock:
        if id(libvirt) in _event_loops:
            return
        libvirt.virEventRegisterDefaultImpl()
        thread = threading.Thread(
            target=_run_event_loop,
            args=(libvirt,),
            name="libvirt-events",
            daemon=True,
        )
        thread.start()
        _event_loops[id(libvirt)] = (libvirt, thread)


def _run_event_loop(libvirt):
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:
            # One failed iteration must not end event delivery for good.
            time.sleep(0.1)

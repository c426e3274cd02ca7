"""Objects that live in worker processes: build one there, call its methods from here.

`send` a method call to each of several workers, then `receive` their results: the workers run the calls
side by side, one per core. `Inline` is the same interface for an object in this process, so a caller
written for workers runs unchanged without them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from crl.errors import CrlError


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Inline:
    """An object called in this process, through the workers' interface."""

    def __init__(self, target: Any):
        self.target, self._result = target, None

    def send(self, method: str, *args) -> None:
        self._result = getattr(self.target, method)(*args)

    def receive(self) -> Any:
        return self._result


class Worker:
    """`build()` in a fresh Python process, then its methods called there. A plain subprocess with a socket,
    not multiprocessing's: that re-runs the caller's main script in each worker (a script without a
    `__main__` guard would start workers without end), and forking a process that runs JAX's threads is
    unsafe. The worker ignores Ctrl-C and ends when this process closes its socket or exits."""

    def __init__(self, build: Callable[[], Any], name: str):
        ours, theirs = socket.socketpair()
        self.name = name
        self._process = subprocess.Popen(
            [sys.executable, "-c", f"import crl.workers as w; w.serve({theirs.fileno()})"],
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send(sys.path)  # first, so that `build` unpickles where this process finds modules
        self._conn.send(build)

    def send(self, method: str, *args) -> None:
        self._conn.send((method, args))

    def receive(self) -> Any:
        try:
            status, value = self._conn.recv()
        except (EOFError, ConnectionResetError):
            raise CrlError(
                f"the worker process {self.name} died (exit code {self._process.wait(5)}); "
                "run again, and if it repeats, report it with the command"
            ) from None
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        self._conn.close()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()


def gather(workers: Sequence[Inline | Worker]) -> list:
    """Every worker's pending result; a worker's error is raised once all have answered, so that none is
    left with an answer waiting that the next call would read."""
    results, error = [], None
    for worker in workers:
        try:
            results.append(worker.receive())
        except Exception as exc:  # noqa: BLE001 (re-raised below)
            error = error or exc
    if error is not None:
        raise error
    return results


def serve(fd: int) -> None:
    """A worker's main loop (see `Worker`): build the object, then answer calls until the socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    conn = Connection(fd)
    sys.path[:] = conn.recv()
    try:
        target, failure = conn.recv()(), None
    except Exception as exc:  # noqa: BLE001 (the answer to every call)
        target, failure = None, exc
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, ConnectionResetError):  # the caller closed the socket or exited
            return
        try:
            if failure is not None:
                raise failure
            reply = ("ok", getattr(target, method)(*args))
        except Exception as exc:  # noqa: BLE001 (sent to the caller, which raises it)
            reply = ("error", exc)
        try:
            conn.send(reply)
        except Exception:  # noqa: BLE001 (a reply that cannot be pickled)
            conn.send(("error", RuntimeError(repr(reply[1]))))

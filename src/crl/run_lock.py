"""One process at a time in a run directory. Two processes training into one directory (a `--resume` typed
in a second terminal while the first still runs) would overwrite each other's checkpoints and logs, so
the second is refused. The lock is the kernel's (flock): it goes with its process, however that process
ends, so a killed run leaves nothing that blocks its `--resume`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crl.errors import CrlError

try:
    import fcntl
except ImportError:  # not POSIX (Windows): no lock
    fcntl = None

LOCK_FILE = ".crl-lock"  # holds the pid of the process training in the directory


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir` for this process; one line naming the holder if another process holds it."""
    if fcntl is None:
        yield
        return
    with open(Path(run_dir) / LOCK_FILE, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise CrlError(
                f"{run_dir} is in use by another crl process (pid {holder}): wait for it to end or stop "
                "it, or give another --run-dir"
            ) from None
        f.truncate(0)
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)

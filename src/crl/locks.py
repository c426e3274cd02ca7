"""One process at a time: in a run directory, and generating a dataset.

Two processes training into one run directory (a `--resume` typed in a second terminal while the first
still runs) would overwrite each other's checkpoints and logs, so the second is refused. Two processes
needing one missing dataset (a sweep's parallel runs on a fresh machine) would each generate it and race
to assemble it, so the second waits for the first and then reads its files. The locks are the kernel's
(flock): each goes with its process, however that process ends, so a killed run or generation leaves
nothing that blocks the next."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from crl.errors import CrlError

try:
    import fcntl
except ImportError:  # not POSIX (Windows): no locks
    fcntl = None

_HELD: set[Path] = set()  # held by this process: holding one again is a no-op, not a wait on itself


@contextmanager
def held(lock_file: Path, when_busy: Callable[[str], None]) -> Iterator[None]:
    """Hold `lock_file`'s lock in this process. If another process holds it, `when_busy(its pid)` first:
    it raises to refuse, or returns to wait until the holder lets go."""
    lock_file = Path(lock_file).absolute()
    if fcntl is None or lock_file in _HELD:
        yield
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            when_busy(f.read().strip() or "unknown")
            fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(0)
        f.write(f"{os.getpid()}\n")
        f.flush()
        _HELD.add(lock_file)
        try:
            yield
        finally:
            _HELD.discard(lock_file)
            fcntl.flock(f, fcntl.LOCK_UN)


def run_lock(run_dir: Path) -> AbstractContextManager[None]:
    """Train in `run_dir`; one line naming the process that already does."""

    def refuse(pid: str) -> None:
        raise CrlError(
            f"{run_dir} is in use by another crl process (pid {pid}): wait for it to end or stop it, or "
            "give another --run-dir"
        )

    return held(Path(run_dir) / ".crl-lock", refuse)


def dataset_lock(directory: Path, dataset: str) -> AbstractContextManager[None]:
    """Generate `dataset` in `directory`, after any other process generating it there has finished."""

    def wait(pid: str) -> None:
        print(f"another crl process (pid {pid}) is generating {dataset} in {directory}: waiting for it")

    return held(Path(directory) / f".{dataset}.lock", wait)

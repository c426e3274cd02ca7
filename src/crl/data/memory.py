"""Whether arrays of a given size fit the device, checked before they are made: a buffer or dataset that
does not fit gets one line naming its size and the fix, instead of an allocator's traceback mid-run."""

from __future__ import annotations

from pathlib import Path

import jax

from crl.errors import CrlError

GIB = 2**30


def free_bytes(device: jax.Device | None = None) -> int | None:
    """Bytes the device can still allocate: the accelerator's allocator limit less what is in use, or the
    host's available memory for the CPU backend; None where neither is known."""
    device = device or jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
    return int(fields["MemAvailable"].split()[0]) * 1024 if "MemAvailable" in fields else None


def check_fits(nbytes: int, what: str, fix: str, device: jax.Device | None = None) -> None:
    """Refuse, in one line, `nbytes` of `what` that exceed the device's free memory."""
    free = free_bytes(device)
    if free is not None and nbytes > free:
        device = device or jax.devices()[0]
        raise CrlError(
            f"{what} needs {nbytes / GIB:.1f} GiB but {device.platform} has {free / GIB:.1f} GiB free; {fix}"
        )


def tree_nbytes(tree) -> int:
    """Bytes of every array in a tree (arrays or jax.ShapeDtypeStruct, as jax.eval_shape returns)."""
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))

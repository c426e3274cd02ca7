"""Checkpoints of the whole train state, through Orbax. Each save is finalised atomically (written to a
temporary directory and renamed), so a killed run leaves only complete checkpoints; crl then records a
checksum of every file of the save, so that a checkpoint damaged afterwards (truncated, overwritten) is
told from a good one."""

from __future__ import annotations

import errno
import json
import logging
import shutil
import sys
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from crl.checksums import sha256
from crl.errors import CrlError

# Orbax logs a failure in its writer threads (with a traceback), then raises it in the caller: the raise is
# what crl reports, so the logs are not shown.
logging.getLogger("absl").setLevel(logging.CRITICAL)

CHECKSUMS = "crl-sha256.json"
LARGE_LEAF = 2**30  # bytes: a leaf this large is restored in slices (`_read_in_slices`)
SLICE_BYTES = 2**28  # the most a slice copies to the device at once


def _large(leaf: Any) -> bool:
    return leaf.size * leaf.dtype.itemsize >= LARGE_LEAF


@partial(jax.jit, donate_argnums=0)
def _write_rows(out: jax.Array, rows: jax.Array, start: int) -> jax.Array:
    return jax.lax.dynamic_update_slice_in_dim(out, rows, start, 0)


def _disk_full(exc: BaseException) -> bool:
    # Orbax raises a full disk as tensorstore's ValueError ("No space left on device [os_error_code='28']").
    return getattr(exc, "errno", None) == errno.ENOSPC or "os_error_code='28'" in str(exc)


def _without_closed_loop_errors(hook):
    """`hook` (sys.unraisablehook), less the errors of writes still in flight when orbax's failed save
    closed its event loop: one per write, after the failure that crl reports."""

    def quiet(unraisable) -> None:
        if not (unraisable.exc_type is RuntimeError and str(unraisable.exc_value) == "Event loop is closed"):
            hook(unraisable)

    return quiet


def _nbytes(tree: Any) -> int:
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree) if hasattr(leaf, "dtype"))


class Checkpoints:
    def __init__(self, directory: Path, keep: int = 2):
        self.directory = Path(directory).absolute()
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, enable_async_checkpointing=False, create=True
            ),
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def save(self, step: int, state: Any) -> None:
        hook = sys.unraisablehook
        sys.unraisablehook = _without_closed_loop_errors(hook)
        try:
            self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
            self.manager.wait_until_finished()
        except (OSError, ValueError) as exc:
            if not _disk_full(exc):
                raise
            raise CrlError(
                f"no space left on the device of {self.directory} for checkpoint {step} (the state takes "
                f"{_nbytes(state) / 2**20:,.0f} MiB): free space there, then continue with --resume from "
                "the last checkpoint"
            ) from None
        sys.unraisablehook = hook  # kept quiet after a failure: writes still in flight report as they end
        step_dir = self.directory / str(step)
        files = sorted(p for p in step_dir.rglob("*") if p.is_file() and p.name != CHECKSUMS)
        record = {str(p.relative_to(step_dir)): sha256(p) for p in files}
        tmp = step_dir / f"{CHECKSUMS}.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(step_dir / CHECKSUMS)

    def has_checksums(self, step: int) -> bool:
        return (self.directory / str(step) / CHECKSUMS).exists()

    def damage(self, step: int) -> str | None:
        """What differs from the checksums recorded at save time; None when nothing does (or nothing was
        recorded: a run saved by an older crl, or killed between the save and its checksums)."""
        step_dir = self.directory / str(step)
        try:
            record = json.loads((step_dir / CHECKSUMS).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return f"its {CHECKSUMS} is unreadable"
        for name, digest in record.items():
            path = step_dir / name
            if not path.is_file():
                return f"{name} is missing"
            if sha256(path) != digest:
                return f"{name} differs from its checksum at save time"
        return None

    def set_aside(self, step: int) -> Path:
        """Move a damaged checkpoint out of the manager's directory (so the step can be saved again)."""
        dest = self.directory.parent / "damaged-checkpoints" / str(step)
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.directory / str(step), dest)
        self.manager.reload()
        return dest

    def restore(self, template: Any, step: int | None = None, agent_only: bool = False) -> Any:
        """Restore into the structure (and dtypes) of `template`; the latest step by default. With
        `agent_only`, `template` is an online run's (agent state, collector) and only the agent state is
        read, returned as (state, None): evaluating or analysing a run never needs its replay, which can
        be GBs (12 GB for 1M image frames)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CrlError(f"no checkpoint in {self.manager.directory}; train first or check --run-dir")
        try:
            if agent_only:
                return self._read(step, template, skip=lambda path, _: path[0].idx == 1)[0], None
            if not any(_large(leaf) for leaf in jax.tree.leaves(template)):
                return self.manager.restore(step, args=ocp.args.StandardRestore(template))
            rest = self._read(step, template, skip=lambda _, leaf: _large(leaf))
            return jax.tree_util.tree_map_with_path(
                lambda path, leaf, read: self._read_in_slices(step, path, leaf) if _large(leaf) else read,
                template,
                rest,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CrlError(
                f"checkpoint {step} in {self.manager.directory} does not fit this config ({str(exc)[:120]}); "
                "resume with the run's own config.json"
            ) from None

    def _read(self, step: int, template: Any, skip) -> Any:
        """The leaves of `template` but those `skip(path, leaf)` names, as device arrays; those are not read
        and come back as `ocp.PLACEHOLDER`. A checkpointer of its own reads them: the manager keeps
        to the argument types it saved with."""
        wanted = jax.tree_util.tree_map_with_path(lambda p, x: ocp.PLACEHOLDER if skip(p, x) else x, template)
        restore_args = ocp.checkpoint_utils.construct_restore_args(wanted)
        with ocp.Checkpointer(ocp.PyTreeCheckpointHandler()) as reader:
            read = reader.restore(
                self._items(step), args=ocp.args.PyTreeRestore(item=wanted, restore_args=restore_args)
            )
        return jax.tree.map(lambda x: x if x is ocp.PLACEHOLDER else jnp.asarray(x), read)

    def _read_in_slices(self, step: int, path: tuple, leaf: Any) -> jax.Array:
        """One large leaf (an image replay's frames), read by slices of its first axis into a device array
        that XLA owns and fills in place, so the read holds it about once. Orbax's own restore reads it
        into a buffer that JAX then copies: twice, which a 24 GB machine cannot hold for 1M frames."""
        import tensorstore as ts

        name = ".".join(str(getattr(k, "idx", getattr(k, "name", getattr(k, "key", k)))) for k in path)
        kvstore = {"driver": "ocdbt", "base": f"file://{self._items(step)}/", "path": f"{name}/"}
        stored = ts.open({"driver": "zarr", "kvstore": kvstore}, open=True, read=True).result()
        if tuple(stored.shape) != tuple(leaf.shape):
            raise ValueError(f"{name} has shape {tuple(stored.shape)}, not {tuple(leaf.shape)}")
        out = jnp.zeros(leaf.shape, leaf.dtype)
        n = leaf.shape[0]
        stored_rows = stored.chunk_layout.read_chunk.shape[0]  # each stored chunk is decoded once
        rows = max(1, SLICE_BYTES * n // (leaf.size * leaf.dtype.itemsize))
        for first in range(0, n, stored_rows):
            block = stored[first : min(first + stored_rows, n)].read().result()  # tensorstore does not clip
            for start in range(0, len(block), rows):
                out = _write_rows(out, jnp.asarray(block[start : start + rows], leaf.dtype), first + start)
        return out

    def _items(self, step: int) -> Path:
        return self.directory / str(step) / "default"  # where Orbax's manager puts its one item

    def close(self) -> None:
        self.manager.close()

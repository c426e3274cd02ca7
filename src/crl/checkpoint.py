"""Checkpoints of the whole train state, through Orbax. Each save is finalised atomically (written to a
temporary directory and renamed), so a killed run leaves only complete checkpoints; crl then records a
checksum of every file of the save, so that a checkpoint damaged afterwards (truncated, overwritten) is
told from a good one."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from crl.checksums import sha256
from crl.errors import CrlError

logging.getLogger("absl").setLevel(logging.ERROR)

CHECKSUMS = "crl-sha256.json"


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
        self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
        self.manager.wait_until_finished()
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
                return self._read_agent(template[0], template[1], step), None
            return self.manager.restore(step, args=ocp.args.StandardRestore(template))
        except (ValueError, KeyError, TypeError) as exc:
            raise CrlError(
                f"checkpoint {step} in {self.manager.directory} does not fit this config ({str(exc)[:120]}); "
                "resume with the run's own config.json"
            ) from None

    def _read_agent(self, agent: Any, collector: Any, step: int) -> Any:
        """The agent part of a saved (agent, collector) pair, the collector's leaves skipped. A checkpointer
        of its own reads it: the manager keeps to the argument types it saved with."""
        skipped = (agent, jax.tree.map(lambda _: ocp.PLACEHOLDER, collector))
        restore_args = ocp.checkpoint_utils.construct_restore_args(skipped)
        with ocp.Checkpointer(ocp.PyTreeCheckpointHandler()) as reader:
            read = reader.restore(
                self.directory / str(step) / "default",
                args=ocp.args.PyTreeRestore(item=skipped, restore_args=restore_args),
            )
        return jax.tree.map(jnp.asarray, read[0])

    def close(self) -> None:
        self.manager.close()

"""Checkpoints of the whole train state, through Orbax: each save is finalised atomically (written
to a temporary directory and renamed), so a killed run leaves only complete checkpoints."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp

from crl.errors import CrlError

logging.getLogger("absl").setLevel(logging.ERROR)


class Checkpoints:
    def __init__(self, directory: Path, keep: int = 2):
        self.manager = ocp.CheckpointManager(
            Path(directory).absolute(),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, enable_async_checkpointing=False, create=True
            ),
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any) -> None:
        self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
        self.manager.wait_until_finished()

    def restore(self, template: Any, step: int | None = None) -> Any:
        """Restore into the structure (and dtypes) of `template`; the latest step by default."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CrlError(f"no checkpoint in {self.manager.directory}; train first or check --run-dir")
        try:
            return self.manager.restore(step, args=ocp.args.StandardRestore(template))
        except (ValueError, KeyError, TypeError) as exc:
            raise CrlError(
                f"checkpoint {step} in {self.manager.directory} does not fit this config ({str(exc)[:120]}); "
                "resume with the run's own config.json"
            ) from None

    def close(self) -> None:
        self.manager.close()

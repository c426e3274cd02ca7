"""Weights & Biases for `--wandb`: a run's metrics, evaluations and videos, logged beside its JSON lines and
TensorBoard (which stay the record crl reads). Each seed directory is one W&B run, whose id is kept in
SEED_DIR/wandb-id so that `--resume` and `crl eval` continue it. Online where an API key is set and W&B's
server answers; otherwise offline, under SEED_DIR/wandb, for `wandb sync` later. $WANDB_MODE and
$WANDB_PROJECT (default crl) override."""

from __future__ import annotations

import netrc
import os
import secrets
import socket
from pathlib import Path

from crl.errors import CrlError

HOST = "api.wandb.ai"
EXTRA = "pip install -c constraints.txt -e '.[wandb]'"


def start(run_dir: Path, config: dict):
    """The W&B run of a seed directory: started, or resumed when the directory has one."""
    try:
        import wandb
    except ImportError:
        raise CrlError(f"--wandb needs wandb: {EXTRA}") from None
    id_file = run_dir / "wandb-id"
    if not id_file.exists():
        id_file.write_text(secrets.token_hex(4))
    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT", "crl"), id=id_file.read_text().strip(), resume="allow",
        name=f"{run_dir.parent.name}/{run_dir.name}", dir=run_dir, config=config, mode=_mode(),
        reinit="create_new", settings=wandb.Settings(silent=True, console="off"),
    )  # fmt: skip
    run.define_metric("step")
    run.define_metric("*", step_metric="step")  # crl's step: a resumed run logs steps again from a checkpoint
    return run


def _mode() -> str:
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if _has_key() and _reachable() else "offline"


def _has_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(HOST) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _reachable() -> bool:
    try:
        socket.create_connection((HOST, 443), timeout=3).close()
        return True
    except OSError:
        return False


def video(path: Path):
    import wandb

    return wandb.Video(str(path), format=path.suffix[1:])

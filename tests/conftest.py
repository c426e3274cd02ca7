"""Shared fixtures: a tiny generated pointmaze dataset and a tiny training config."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
import time

import jax
import pytest

from crl.config import CRLConfig, TrainConfig
from crl.data.generate import generate

DATASET = "pointmaze-medium-navigate-v0"


def pytest_configure(config):
    """One persistent XLA cache for the session, shared by the xdist workers and the `crl` processes
    tests start: the same tiny programs are otherwise compiled again in every process (kill-and-resume,
    sweeps, the CLI, each worker). It starts empty, so each session still compiles everything once.
    Workers inherit the controller's directory through the environment."""
    inherited = os.environ.get("JAX_COMPILATION_CACHE_DIR") if hasattr(config, "workerinput") else None
    cache = inherited or tempfile.mkdtemp(prefix="crl-test-xla-")
    settings = {"jax_compilation_cache_dir": cache, "jax_persistent_cache_min_compile_time_secs": 0,
                "jax_persistent_cache_min_entry_size_bytes": 0,
                # Compiling dominates the tests' tiny programs: XLA's cheapest optimisation level cut a
                # fifth of the MR-CRL end-to-end tests' time on 2 cores and changes no result a test checks.
                "jax_disable_most_optimizations": True}  # fmt: skip
    for name, value in settings.items():
        os.environ[name.upper()] = str(value)
        jax.config.update(name, value)


# The heaviest files first (worker seconds on 2 cores, 2026-11-23: 275 to 105 each). xdist hands out whole
# files in collection order, so a long file collected last runs alone at the end; longest first keeps
# both workers busy until the end (the rest keep their order).
HEAVY_FIRST = ("test_images.py", "test_critics.py", "test_pixel_datasets.py", "test_mrcrl.py",
               "test_train.py", "test_online.py", "test_sweep.py", "test_online_host.py")  # fmt: skip


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's order is kept


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):  # the controller (or a run without workers) made it
        shutil.rmtree(os.environ.get("JAX_COMPILATION_CACHE_DIR", ""), ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """40 training episodes (40k transitions) and 4 validation episodes of pointmaze-medium-navigate."""
    directory = tmp_path_factory.mktemp("data")
    generate(DATASET, directory, episodes=40, seed=0, progress=False)
    return directory


def tiny_config(data_dir, run_dir, **changes) -> TrainConfig:
    agent = CRLConfig(batch_size=32, hidden=(32, 32), latent_dim=16, alpha=0.03)
    base = TrainConfig(
        dataset=DATASET,
        preset="quick",
        agent=agent,
        steps=40,
        log_every=10,
        checkpoint_every=20,
        eval_every=0,
        eval_episodes=0,
        data_dir=data_dir,
        run_dir=run_dir,
        progress=False,
    )
    return dataclasses.replace(base, **changes)


def kill_at_checkpoint(cmd: list[str], run_dir, step: int) -> list[int]:
    """Start `cmd` (a `crl train` command line for `run_dir`), SIGKILL it as soon as checkpoint `step`
    exists, and return the checkpoint steps it left."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (run_dir / "checkpoints" / str(step)).exists():
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())

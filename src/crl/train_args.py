"""`crl train`'s flags -> TrainConfig: --agent and --preset pick the defaults, tyro parses the rest.

Shared by `crl train` and `crl sweep`, which checks every run's flags before it starts any run.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import tyro

from crl.config import TrainConfig
from crl.errors import CrlError

TRAIN_DESCRIPTION = """Train an agent on an OGBench dataset, or online in an environment (--env, with
--env-steps N; `crl envs list`), then evaluate it.

--agent NAME chooses the agent ({agents}; default crl) and --preset NAME the hyperparameters
({presets}) for --dataset or --env: the defaults below are that preset's values for that agent. Any field
can then be set by its flag, for example --agent.alpha 0.1. With --resume, the defaults come
from the run directory's config.json instead, and flags given override them."""


def _without_agent_flag(args: Sequence[str]) -> list[str]:
    rest = [a for i, a in enumerate(args) if a != "--agent" and (i == 0 or args[i - 1] != "--agent")]
    return [a for a in rest if not a.startswith("--agent=")]


def parse_train_args(args: Sequence[str], prog: str = "crl train") -> TrainConfig:
    """The TrainConfig that `crl train ARGS` would run (tyro prints --help and usage errors itself)."""
    from crl.agents.registry import AGENTS
    from crl.data.names import check_dataset_name
    from crl.envs import make_env
    from crl.presets import PRESETS, preset_config
    from crl.train import read_config

    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--agent")
    pre.add_argument("--preset", default="quick")
    pre.add_argument("--dataset")
    pre.add_argument("--env")
    pre.add_argument("--run-dir", "--run_dir", type=Path)
    pre.add_argument("--resume", action="store_true")
    args = ["--steps" if a == "--env-steps" else a for a in args]  # the online name of the same schedule
    known, _ = pre.parse_known_args(args)
    if known.agent is not None and known.agent not in AGENTS:
        raise CrlError(f"unknown agent '{known.agent}': choose one of {', '.join(AGENTS)}")
    if known.env is not None and known.dataset is not None:
        raise CrlError("--env (online) and --dataset (offline) exclude each other: give one of them")
    if known.resume and known.run_dir is not None and (known.run_dir / "config.json").exists():
        base = dataclasses.replace(read_config(known.run_dir), resume=True, run_dir=known.run_dir)
    elif known.env is not None:
        make_env(known.env)
        base = preset_config(known.preset, None, known.agent, env=known.env)
    else:
        dataset = check_dataset_name(known.dataset or TrainConfig.dataset)
        base = preset_config(known.preset, dataset, known.agent)
    description = TRAIN_DESCRIPTION.format(agents=", ".join(AGENTS), presets=", ".join(PRESETS))
    config = tyro.cli(
        type(base), default=base, args=_without_agent_flag(args), prog=prog, description=description,
        config=(tyro.conf.AvoidSubcommands,),
    )  # fmt: skip
    if not config.online:
        check_dataset_name(config.dataset)
    return config

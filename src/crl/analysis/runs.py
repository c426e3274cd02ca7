"""A trained maze run, loaded for analysis: its config, the maze its states come from (`crl.analysis.
spaces`), and seed 0's agent at its latest checkpoint, or the same agent untrained (fresh parameters from
the run's seed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax

from crl.agents import agent_module
from crl.analysis.spaces import DatasetMaze, OnlineMaze
from crl.config import AgentConfig, TrainConfig, agent_name
from crl.envs import make_env, on_host
from crl.errors import CrlError


@dataclass(frozen=True)
class AnalyzedAgent:
    label: str  # what figures and tables call it: "untrained", or the run's agent and directory
    config: AgentConfig
    state: Any  # the agent's train state (its `params` hold the networks)
    space: OnlineMaze | DatasetMaze


def load_run(run_dir: Path) -> AnalyzedAgent:
    """Seed 0's agent of a point-maze run or of a run on an OGBench maze dataset, at its latest checkpoint."""
    from crl.train import latest_agent, read_config

    space = _maze_of(Path(run_dir), read_config(run_dir))
    config, states = latest_agent(run_dir)
    label = f"{agent_name(config.agent)} ({Path(run_dir).name})"
    return AnalyzedAgent(label, config.agent.for_run(config.steps), states, space)


def untrained(run: AnalyzedAgent, seed: int = 0) -> AnalyzedAgent:
    """The run's agent with fresh parameters: the baseline every analysis compares against."""
    space = run.space
    state = agent_module(run.config).init(
        jax.random.PRNGKey(seed), run.config, space.obs_shape, space.action_dim
    )
    return AnalyzedAgent(f"untrained {agent_name(run.config)}", run.config, state, space)


def _maze_of(run_dir: Path, config: TrainConfig) -> OnlineMaze | DatasetMaze:
    if not config.online:
        return DatasetMaze.load(config.dataset, config.data_dir)
    env = make_env(config.env)
    if on_host(env):
        raise CrlError(
            f"{run_dir} trained on {config.env}; the maze analyses read runs on the point mazes (`crl train "
            "--env point-<map>` or `point-<map>-image`) or on OGBench maze datasets, whose shortest paths "
            "they know"
        )
    return OnlineMaze(env)

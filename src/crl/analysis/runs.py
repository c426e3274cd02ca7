"""A trained point-maze run, loaded for analysis: its config, its maze, and seed 0's agent at its latest
checkpoint, or the same agent untrained (fresh parameters from the run's seed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax

from crl.agents import agent_module
from crl.config import AgentConfig, TrainConfig, agent_name
from crl.envs import make_env, on_host
from crl.envs.point import PointMaze
from crl.errors import CrlError


@dataclass(frozen=True)
class AnalyzedAgent:
    label: str  # what figures and tables call it: "untrained", or the run's agent and directory
    config: AgentConfig
    state: Any  # the agent's train state (its `params` hold the networks)
    env: PointMaze


def load_run(run_dir: Path) -> AnalyzedAgent:
    """Seed 0's agent of an online point-maze run, at its latest checkpoint."""
    from crl.train import latest_agent, read_config

    _point_maze_run(Path(run_dir), read_config(run_dir))
    config, states = latest_agent(run_dir)
    env = make_env(config.env)
    label = f"{agent_name(config.agent)} ({Path(run_dir).name})"
    return AnalyzedAgent(label, config.agent.for_run(config.steps), states, env)


def untrained(run: AnalyzedAgent, seed: int = 0) -> AnalyzedAgent:
    """The run's agent with fresh parameters: the baseline every analysis compares against."""
    obs_shape = run.env.obs_shape
    state = agent_module(run.config).init(jax.random.PRNGKey(seed), run.config, obs_shape, run.env.action_dim)
    return AnalyzedAgent(f"untrained {agent_name(run.config)}", run.config, state, run.env)


def _point_maze_run(run_dir: Path, config: TrainConfig) -> TrainConfig:
    if not config.online or on_host(make_env(config.env)):
        source = config.env or config.dataset
        raise CrlError(
            f"{run_dir} trained on {source}; the analyses read runs on the point mazes (`crl train --env "
            "point-<map>` or `point-<map>-image`), whose shortest paths they know"
        )
    return config

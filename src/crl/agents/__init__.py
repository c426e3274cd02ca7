"""Agents: modules of pure functions over explicit train state.

Each agent module provides
    init(key, config, obs_dim, action_dim, goal_dim=None) -> state  # goals: states unless goal_dim
    sample(state, data, config) -> batch                     # the next minibatch, from the state's key
    draw(key, data, config) -> batch                         # a minibatch from any key (validation)
    update(state, batch, config) -> (state, metrics)         # one gradient step
    validation_metrics(state, data, config, key) -> metrics  # held-out diagnostics (offline agents)
    act(config, action_dim, state, obs, goals) -> actions    # deterministic, jitted
and the online agents (crl, td3) also
    explore(config, action_dim, state, obs, goals, key) -> actions  # for collecting experience
"""

from __future__ import annotations

from types import ModuleType


def agent_module(config) -> ModuleType:
    """The agent module that trains configs of this type."""
    from crl.agents.registry import AGENTS, agent_name

    return AGENTS[agent_name(config)].load()


def sample_and_update(state, data, config) -> tuple:
    """One training step of any agent: its next minibatch from `data`, then its update on it."""
    agent = agent_module(config)
    return agent.update(state, agent.sample(state, data, config), config)

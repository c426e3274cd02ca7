"""Agents: modules of pure functions over explicit train state.

Each agent module provides
    init(key, config, obs_dim, action_dim) -> state
    update(state, data, config) -> (state, metrics)          # samples its own minibatch on the device
    validation_metrics(state, data, config, key) -> metrics  # held-out critic diagnostics
    act(config, action_dim, state, obs, goals) -> actions    # deterministic, jitted
"""

from __future__ import annotations

from types import ModuleType

from crl.agents import crl, gcbc, mrcrl
from crl.config import agent_name

AGENTS: dict[str, ModuleType] = {"crl": crl, "mrcrl": mrcrl, "gcbc": gcbc}


def agent_module(config) -> ModuleType:
    """The agent module that trains configs of this type."""
    return AGENTS[agent_name(config)]

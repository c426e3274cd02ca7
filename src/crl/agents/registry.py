"""Which agents exist: the one list that the CLI, configs, sweeps and reports read."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import ModuleType

from crl.config import MRCRL_VARIANTS, CRLConfig, GCBCConfig, MRCRLConfig, SACConfig, TD3Config


@dataclass(frozen=True)
class AgentSpec:
    config: type  # the agent's hyperparameter dataclass
    module: str  # the module of its pure functions (init, sample, draw, update, act, ...)
    variants: tuple[
        str, ...
    ] = ()  # named ablations (`--agent.variant`), each its own arm in sweeps and reports
    online_only: bool = False  # learns from its own experience (`crl train --env`), never from a dataset

    def load(self) -> ModuleType:
        return import_module(self.module)


AGENTS: dict[str, AgentSpec] = {
    "crl": AgentSpec(CRLConfig, "crl.agents.crl"),
    "mrcrl": AgentSpec(MRCRLConfig, "crl.agents.mrcrl", variants=MRCRL_VARIANTS),
    "gcbc": AgentSpec(GCBCConfig, "crl.agents.gcbc"),
    "td3her": AgentSpec(TD3Config, "crl.agents.td3", online_only=True),
    "sac": AgentSpec(SACConfig, "crl.agents.sac", online_only=True),  # the locomotion experts' (reward)
}


def agent_name(config) -> str:
    """The registry name of a config's agent."""
    return next(name for name, spec in AGENTS.items() if type(config) is spec.config)


def report_labels() -> list[str]:
    """Every arm label in the order tables list them: each agent, then its variants beyond the first."""
    return [
        label
        for name, spec in AGENTS.items()
        for label in (name, *[f"{name}-{v}" for v in spec.variants[1:]])
    ]

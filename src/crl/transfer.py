"""Transferring representations (CRL paper F.4, Fig. 11): `crl train --init-from RUN_DIR` starts a new run's
critic, which holds phi(s, a), psi(g) and their observation encoders, from another CRL run's latest
checkpoint (seed 0's). The actor, the optimiser's moments and every counter start fresh, so the new run
learns its own task and only the representation carries over."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from crl.config import CRLConfig, agent_name
from crl.errors import CrlError

TRANSFERRED = "critic"


def init_from(run_dir: Path, states, config: CRLConfig):
    """`states` (stacked over seeds) with every seed's critic, and its target copy, set to the source
    run's; refuses, in one line, a source whose critic has another layout."""
    from crl.train import latest_agent

    source_config, source = latest_agent(run_dir)
    if not isinstance(source_config.agent, CRLConfig) or not isinstance(config, CRLConfig):
        raise CrlError(
            f"--init-from transfers a CRL critic between CRL runs; {run_dir} trained "
            f"{agent_name(source_config.agent)} and this run trains {agent_name(config)}"
        )
    critic = source.params[TRANSFERRED]
    _check_same_layout(run_dir, critic, jax.tree.map(lambda x: x[0], states.params[TRANSFERRED]))
    seeds = jax.tree.leaves(states)[0].shape[0]
    stacked = jax.tree.map(lambda x: jnp.broadcast_to(x, (seeds, *x.shape)), critic)
    target = {**states.target, TRANSFERRED: stacked} if TRANSFERRED in states.target else states.target
    return states.replace(params={**states.params, TRANSFERRED: stacked}, target=target)


def _check_same_layout(run_dir: Path, source, fresh) -> None:
    theirs = dict(jax.tree_util.tree_flatten_with_path(source)[0])
    ours = dict(jax.tree_util.tree_flatten_with_path(fresh)[0])
    for path in sorted(theirs.keys() | ours.keys(), key=str):
        a, b = theirs.get(path), ours.get(path)
        if a is None or b is None or a.shape != b.shape:
            name = jax.tree_util.keystr(path)
            shapes = f"{getattr(a, 'shape', 'absent')} there, {getattr(b, 'shape', 'absent')} here"
            raise CrlError(
                f"--init-from {run_dir}: its critic's {name} is {shapes}; give this run the source's "
                "--agent.hidden, --agent.latent-dim, --agent.encoder, critic and observation shape"
            )

"""Networks: MLPs, the contrastive critic's two encoders (as an ensemble), the goal-conditioned actor."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def _init(scale: float = 1.0) -> nn.initializers.Initializer:
    return nn.initializers.variance_scaling(scale, "fan_avg", "uniform")


class MLP(nn.Module):
    """Dense -> GELU -> (LayerNorm) for each hidden layer, then a linear output layer."""

    hidden: Sequence[int]
    out: int
    layer_norm: bool = True
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = nn.gelu(nn.Dense(width, kernel_init=_init())(x))
            if self.layer_norm:
                x = nn.LayerNorm()(x)
        return nn.Dense(self.out, kernel_init=_init(self.out_scale))(x)


class ContrastiveEncoders(nn.Module):
    """phi(state-action input) and psi(goal input); the critic is f = phi . psi / sqrt(d).

    Callers build the inputs: CRL feeds [s, a] and g; MR-CRL adds its encoders' features.
    """

    hidden: Sequence[int]
    latent_dim: int
    layer_norm: bool = True

    @nn.compact
    def __call__(self, state_action: jax.Array, goals: jax.Array) -> tuple[jax.Array, jax.Array]:
        phi = MLP(self.hidden, self.latent_dim, self.layer_norm, name="phi")(state_action)
        psi = MLP(self.hidden, self.latent_dim, self.layer_norm, name="psi")(goals)
        return phi, psi


def ensemble(module: type[nn.Module], size: int) -> type[nn.Module]:
    """`size` independent copies of `module`, evaluated together; outputs gain a leading ensemble axis."""
    return nn.vmap(
        module,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        in_axes=None,
        out_axes=0,
        axis_size=size,
    )


class Actor(nn.Module):
    """pi(s, g): the action mean, unsquashed (callers clip it to the action box, as OGBench does)."""

    hidden: Sequence[int]
    action_dim: int

    @nn.compact
    def __call__(self, obs: jax.Array, goals: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, goals], -1)
        return MLP(self.hidden, self.action_dim, layer_norm=False, out_scale=1e-2)(x)

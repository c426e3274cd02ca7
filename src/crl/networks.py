"""Networks: MLPs, the contrastive critic's two encoders (as an ensemble), a goal-conditioned Q-function,
the goal-conditioned actor.
Observation encoders (identity, CNNs) come from crl.encoders, by name."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from crl.data.images import is_image, storage_dtype
from crl.encoders import make_encoder
from crl.errors import CrlError


def example_input(shape: int | tuple[int, ...]) -> jax.Array:
    """A batch of one zero input of `shape` (a length, or a shape): images as uint8, as they are stored."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return jnp.zeros((1, *shape), storage_dtype(shape))


def states_only(agent: str, *shapes: int | tuple[int, ...] | None) -> None:
    """One line refusing image inputs to an agent whose networks have no image encoder."""
    if any(shape is not None and is_image(shape) for shape in shapes):
        raise CrlError(
            f"--agent {agent} learns from states only; for image observations use --agent crl, gcbc or td3her"
        )


def check_encoder(encoder: str, shape: int | tuple[int, ...]) -> None:
    """One line when an encoder does not fit the observations: a CNN on states, or none on images."""
    described = shape if isinstance(shape, int) else "x".join(map(str, shape))
    if encoder == "identity" and is_image(shape):
        raise CrlError(
            f"these observations are {described} images: add --agent.encoder nature (or impala-small)"
        )
    if encoder != "identity" and not is_image(shape):
        raise CrlError(
            f"--agent.encoder {encoder} reads images, but these observations are {described} numbers: "
            "drop --agent.encoder (identity is for states)"
        )


def _init(scale: float = 1.0) -> nn.initializers.Initializer:
    return nn.initializers.variance_scaling(scale, "fan_avg", "uniform")


ACTIVATIONS = {"gelu": nn.gelu, "relu": nn.relu}


class MLP(nn.Module):
    """Dense -> activation -> (LayerNorm) for each hidden layer, then a linear output layer."""

    hidden: Sequence[int]
    out: int
    layer_norm: bool = True
    out_scale: float = 1.0
    activation: str = "gelu"
    dtype: jnp.dtype = jnp.float32  # what the layers compute in; parameters and outputs stay float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = ACTIVATIONS[self.activation](nn.Dense(width, kernel_init=_init(), dtype=self.dtype)(x))
            if self.layer_norm:
                x = nn.LayerNorm(dtype=self.dtype)(x)
        return nn.Dense(self.out, kernel_init=_init(self.out_scale), dtype=self.dtype)(x).astype(jnp.float32)


class GoalQ(nn.Module):
    """Q(s, a, g): an MLP (no layer norm) on [encoder(s), a, encoder(g)]. One `encoder` (crl.encoders)
    maps both the observation and the goal, as in the actor; on states (identity) the layers are named as
    an `MLP`'s, so a state critic is exactly `MLP` on [s, a, g]."""

    hidden: Sequence[int]
    activation: str = "relu"
    dtype: jnp.dtype = jnp.float32
    encoder: str = "identity"

    @nn.compact
    def __call__(self, obs: jax.Array, actions: jax.Array, goals: jax.Array) -> jax.Array:
        encoder = make_encoder(self.encoder, name="encoder")
        x = jnp.concatenate([encoder(obs), actions, encoder(goals)], -1)
        for width in self.hidden:
            x = ACTIVATIONS[self.activation](nn.Dense(width, kernel_init=_init(), dtype=self.dtype)(x))
        return nn.Dense(1, kernel_init=_init(), dtype=self.dtype)(x).astype(jnp.float32)[..., 0]


class ContrastiveEncoders(nn.Module):
    """phi(encoded observation, action) and psi(encoded goal), optionally normalised, and a logit scale.

    `encoder` (crl.encoders: identity for states, a CNN for images) turns the observation and the goal
    into features before the action joins; each side has its own. Callers whose inputs are already
    features (MR-CRL's [s, a, z_s, z_sa]) pass them as `obs` with `actions=None` and the identity.
    Returns (phi, psi, log_scale); log_scale is a learned scalar or 0.
    """

    hidden: Sequence[int]
    latent_dim: int
    layer_norm: bool = True
    repr_norm: str = "none"  # 'none', 'l2' or 'tanh'
    learned_temperature: bool = False
    activation: str = "gelu"
    dtype: jnp.dtype = jnp.float32
    encoder: str = "identity"

    @nn.compact
    def __call__(
        self, obs: jax.Array, actions: jax.Array | None, goals: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        features = make_encoder(self.encoder, name="obs_encoder")(obs)
        state_action = features if actions is None else jnp.concatenate([features, actions], -1)
        goal_features = make_encoder(self.encoder, name="goal_encoder")(goals)
        mlp = dict(layer_norm=self.layer_norm, activation=self.activation, dtype=self.dtype)
        phi = MLP(self.hidden, self.latent_dim, **mlp, name="phi")(state_action)
        psi = MLP(self.hidden, self.latent_dim, **mlp, name="psi")(goal_features)
        if self.repr_norm == "l2":  # length sqrt(d), so the dot energy phi . psi / sqrt(d) = sqrt(d) cos
            phi, psi = _length_sqrt_d(phi), _length_sqrt_d(psi)
        elif self.repr_norm == "tanh":
            phi, psi = jnp.tanh(phi), jnp.tanh(psi)
        log_scale = self.param("log_scale", nn.initializers.zeros, ()) if self.learned_temperature else 0.0
        return phi, psi, jnp.asarray(log_scale)


def _length_sqrt_d(x: jax.Array) -> jax.Array:
    """x rescaled to length sqrt(dim), as OGBench's LengthNormalize: unit length would confine the
    logits to +-1 / sqrt(d) after the energy's 1 / sqrt(d) (+-0.044 at d = 512)."""
    return x * jnp.sqrt(x.shape[-1]) / (jnp.linalg.norm(x, axis=-1, keepdims=True) + 1e-6)


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
    """pi(s, g): the Gaussian's mean (unsquashed: callers clip it to the action box, as OGBench does, or
    squash it with tanh) and its log-std: 0 (std 1) without `learned_std`; with it, a learned head
    clipped to [-5, 2], or with `softplus_std` std = softplus(head) + 1e-6 (the CRL paper's actor).
    One `encoder` (crl.encoders) maps both the observation and the goal to features."""

    hidden: Sequence[int]
    action_dim: int
    learned_std: bool = False
    activation: str = "gelu"
    dtype: jnp.dtype = jnp.float32
    softplus_std: bool = False
    encoder: str = "identity"

    @nn.compact
    def __call__(self, obs: jax.Array, goals: jax.Array) -> tuple[jax.Array, jax.Array]:
        encoder = make_encoder(self.encoder, name="encoder")
        features = jnp.concatenate([encoder(obs), encoder(goals)], -1)
        for width in self.hidden:
            dense = nn.Dense(width, kernel_init=_init(), dtype=self.dtype)
            features = ACTIVATIONS[self.activation](dense(features))
        head = dict(kernel_init=_init(1e-2), dtype=self.dtype)
        mean = nn.Dense(self.action_dim, **head, name="mean")(features).astype(jnp.float32)
        if not self.learned_std:
            return mean, jnp.zeros_like(mean)
        log_std = nn.Dense(self.action_dim, **head, name="log_std")(features).astype(jnp.float32)
        if self.softplus_std:
            return mean, jnp.log(nn.softplus(log_std) + 1e-6)
        return mean, jnp.clip(log_std, -5.0, 2.0)


def gaussian_log_prob(x: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """log N(x; mean, diag(exp(log_std))^2), summed over the last axis."""
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), -1)

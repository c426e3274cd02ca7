"""Contrastive critic losses and their diagnostics, on a B x B logits matrix (positives on the diagonal)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def critic_logits(phi: jax.Array, psi: jax.Array) -> jax.Array:
    """f(s_i, a_i, g_j) = phi_i . psi_j / sqrt(d) for every pair; (..., B, d) x (..., B, d) -> (..., B, B)."""
    return jnp.einsum("...id,...jd->...ij", phi, psi) / jnp.sqrt(phi.shape[-1])


def nce_binary_loss(logits: jax.Array) -> jax.Array:
    """Mean binary cross-entropy over all B x B entries, diagonal labelled 1 and the rest 0.

    -log sigmoid(x) = softplus(x) - x and -log(1 - sigmoid(x)) = softplus(x), so the loss is
    mean(softplus(L)) - sum(diag(L)) / B^2: one stable elementwise pass over the matrix.
    """
    b = logits.shape[-1]
    diag = jnp.diagonal(logits, axis1=-2, axis2=-1)
    return jnp.mean(jax.nn.softplus(logits)) - jnp.mean(diag) / b


def contrastive_metrics(logits: jax.Array) -> dict[str, jax.Array]:
    """Binary and categorical accuracy and mean positive / negative logits, averaged over the ensemble."""
    b = logits.shape[-1]
    eye = jnp.eye(b, dtype=bool)
    mean_logits = logits.reshape(-1, b, b).mean(0)
    return {
        "binary_accuracy": jnp.mean((logits > 0) == eye),
        "categorical_accuracy": jnp.mean(jnp.argmax(mean_logits, axis=1) == jnp.arange(b)),
        "logits_pos": jnp.sum(jnp.where(eye, mean_logits, 0.0)) / b,
        "logits_neg": jnp.sum(jnp.where(eye, 0.0, mean_logits)) / (b * (b - 1)),
    }

"""Contrastive critic losses and their diagnostics, on a B x B logits matrix (positives on the diagonal)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def critic_logits(phi: jax.Array, psi: jax.Array, energy: str = "dot") -> jax.Array:
    """f(s_i, a_i, g_j) for every pair; (..., B, d) x (..., B, d) -> (..., B, B).

    energy='dot': phi_i . psi_j / sqrt(d); energy='l2': -|| phi_i - psi_j ||.
    """
    if energy == "l2":
        sq = jnp.sum(phi**2, -1)[..., :, None] + jnp.sum(psi**2, -1)[..., None, :]
        sq = sq - 2 * jnp.einsum("...id,...jd->...ij", phi, psi)
        return -jnp.sqrt(jnp.maximum(sq, 0.0) + 1e-12)
    return jnp.einsum("...id,...jd->...ij", phi, psi) / jnp.sqrt(phi.shape[-1])


def paired_logits(phi: jax.Array, psi: jax.Array, energy: str = "dot") -> jax.Array:
    """f(s_i, a_i, g_i) for matching rows only: (..., B, d) x (..., B, d) -> (..., B)."""
    if energy == "l2":
        return -jnp.sqrt(jnp.sum((phi - psi) ** 2, -1) + 1e-12)
    return jnp.sum(phi * psi, -1) / jnp.sqrt(phi.shape[-1])


def nce_binary_loss(logits: jax.Array, row_weights: jax.Array | None = None) -> jax.Array:
    """Mean binary cross-entropy over all B x B entries, diagonal labelled 1 and the rest 0.

    -log sigmoid(x) = softplus(x) - x and -log(1 - sigmoid(x)) = softplus(x), so the loss is
    mean(softplus(L)) - sum(diag(L)) / B^2: one stable elementwise pass over the matrix.
    `row_weights` (B,) weigh each row (its positive and its B - 1 negatives): see `row_mean`.
    """
    b = logits.shape[-1]
    diag = jnp.diagonal(logits, axis1=-2, axis2=-1)
    if row_weights is None:
        return jnp.mean(jax.nn.softplus(logits)) - jnp.mean(diag) / b
    return row_mean(jnp.mean(jax.nn.softplus(logits), -1) - diag / b, row_weights)


def cpc_loss(
    logits: jax.Array, logsumexp_coef: float = 0.01, row_weights: jax.Array | None = None
) -> jax.Array:
    """InfoNCE over each row (softmax cross-entropy, positive on the diagonal) plus coef * logsumexp(row)^2
    (Appendix C), averaged over rows (weighted by `row_weights`, see `row_mean`) and ensemble members."""
    lse = jax.nn.logsumexp(logits, axis=-1)
    diag = jnp.diagonal(logits, axis1=-2, axis2=-1)
    if row_weights is None:
        return jnp.mean(lse - diag) + logsumexp_coef * jnp.mean(lse**2)
    return row_mean(lse - diag + logsumexp_coef * lse**2, row_weights)


def row_mean(per_row: jax.Array, row_weights: jax.Array) -> jax.Array:
    """sum_i w_i l_i / sum_i w_i of per-row losses (..., B), then the mean over ensemble members: a row of
    weight 0 (a relabelled pair filtered out) adds nothing, and the rest keep the scale of the plain mean."""
    total = jnp.sum(per_row * row_weights, -1) / jnp.maximum(jnp.sum(row_weights), 1.0)
    return jnp.mean(total)


def c_learning_loss(
    pos: jax.Array, rand: jax.Array, weight: jax.Array, discount: float, mixed: bool
) -> jax.Array:
    """C-learning's objective, or (mixed=True) Appendix D's NCE + C-learning combination, as a loss.

    pos: f(s, a, s+) on each row's positive (for C-learning the next state; for the combination a draw
    from the next-or-future mixture); rand: f(s, a, g) on each row's random goal g; weight: the
    stop-gradient, clipped exp f(s', a', g). C-learning maximises
        (1 - gamma) log s(pos) + gamma w log s(rand) + log(1 - s(rand)),
    the combination (2 - gamma) log s(pos) + gamma w log s(rand) + 2 log(1 - s(rand)).
    """
    # -log sigmoid(x) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x): stable for large logits.
    pos_term, rand_pos, rand_neg = jax.nn.softplus(-pos), jax.nn.softplus(-rand), jax.nn.softplus(rand)
    w = jax.lax.stop_gradient(weight)
    if mixed:
        total = (2 - discount) * pos_term + discount * w * rand_pos + 2 * rand_neg
    else:
        total = (1 - discount) * pos_term + discount * w * rand_pos + rand_neg
    return jnp.mean(total)


def contrastive_metrics(logits: jax.Array) -> dict[str, jax.Array]:
    """Binary and categorical accuracy and mean positive / negative logits of the ensemble's mean logits
    (as OGBench logs them)."""
    b = logits.shape[-1]
    eye = jnp.eye(b, dtype=bool)
    # Members summed elementwise, and a row counted right when its positive is the row's maximum: XLA's CPU
    # backend ran the equivalent mean over an axis and argmax at ~1.3 ms an update, 12% of a `quick` update.
    members = logits.reshape(-1, b, b)
    mean_logits = sum(members[i] for i in range(len(members))) / len(members)
    diag = jnp.diagonal(mean_logits)
    return {
        "binary_accuracy": jnp.mean((mean_logits > 0) == eye),
        "categorical_accuracy": jnp.mean(diag >= jnp.max(mean_logits, axis=1)),
        "logits_pos": jnp.sum(jnp.where(eye, mean_logits, 0.0)) / b,
        "logits_neg": jnp.sum(jnp.where(eye, 0.0, mean_logits)) / (b * (b - 1)),
    }


def ddpg_bc_loss(
    q: jax.Array, mean: jax.Array, actions: jax.Array, alpha: float, bc: str
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """-Q / stop_grad(mean |Q|) + alpha * BC, with Q (B,) already reduced over the ensemble.

    bc='gaussian': negative log-likelihood of the data action under N(mean, I);
    bc='deterministic': squared error.
    """
    q_loss = -jnp.mean(q) / jax.lax.stop_gradient(jnp.mean(jnp.abs(q)) + 1e-6)
    sq_err = jnp.sum((mean - actions) ** 2, -1)
    if bc == "gaussian":
        bc_loss = jnp.mean(0.5 * sq_err + 0.5 * actions.shape[-1] * jnp.log(2 * jnp.pi))
    else:
        bc_loss = jnp.mean(sq_err)
    loss = q_loss + alpha * bc_loss
    return loss, {
        "loss": loss,
        "q_loss": q_loss,
        "bc_loss": bc_loss,
        "q_mean": jnp.mean(q),
        "mse": jnp.mean(sq_err),
    }

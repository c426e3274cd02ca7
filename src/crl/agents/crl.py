"""Contrastive RL as pure functions: init, update, act.

Critics (`config.critic`): NCE-binary and CPC over the B x B matrix of every state-action against
every goal; C-learning and NCE + C-learning on matched rows, with a bootstrapped term through the
policy's next action. Actors (`config.actor_loss`): DDPG+BC, AWR (with a contrastive V), SAC.

`sample` draws a minibatch from a data source on the device and `update` takes one gradient step on
it, so the training loop runs both under `lax.scan` (many updates per compiled call) and `vmap` (many
seeds) without host round trips.
The critic and actor pieces take prepared inputs, so that MR-CRL reuses them with its features.
"""

from __future__ import annotations

from functools import partial

import flax.struct
import jax
import jax.numpy as jnp
import optax

from crl.agents.losses import (
    c_learning_loss,
    contrastive_metrics,
    cpc_loss,
    critic_logits,
    ddpg_bc_loss,
    nce_binary_loss,
    paired_logits,
)
from crl.config import CRLConfig
from crl.data.sampling import Batch, DeviceData, sample_batch
from crl.networks import Actor, ContrastiveEncoders, check_encoder, ensemble, example_input, gaussian_log_prob

AWR_MAX_WEIGHT = 100.0


class TrainState(flax.struct.PyTreeNode):
    params: dict  # {'critic', 'actor'} and, by actor loss, 'value' (awr) or 'log_alpha' (sac)
    opt_state: optax.OptState
    rng: jax.Array
    step: jax.Array
    target: dict = flax.struct.field(default_factory=dict)  # {'critic': EMA copy} for C-learning critics


def critic_net(config: CRLConfig, size: int | None = None):
    return ensemble(ContrastiveEncoders, size or config.ensemble)(
        config.hidden, config.latent_dim, config.layer_norm, config.repr_norm, config.learned_temperature,
        config.activation, config.compute_dtype, config.encoder,
    )  # fmt: skip


def actor_net(config: CRLConfig, action_dim: int) -> Actor:
    return Actor(
        config.hidden, action_dim, config.actor_loss == "sac", config.activation, config.compute_dtype,
        softplus_std=config.actor == "tanh-gaussian", encoder=config.encoder,
    )  # fmt: skip


def to_action(config: CRLConfig, u: jax.Array) -> jax.Array:
    """An actor output in the action box: tanh-squashed, or clipped (as OGBench's actors)."""
    return jnp.tanh(u) if config.actor == "tanh-gaussian" else jnp.clip(u, -1, 1)


def policy_sample(config: CRLConfig, mean: jax.Array, log_std: jax.Array, key: jax.Array):
    """a ~ pi, reparameterised, and log pi(a). The tanh actor's density has the change of variables
    log pi(a) = log N(u) - sum log(1 - tanh(u)^2); the clipped Gaussian's is that of u (as before)."""
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    log_prob = gaussian_log_prob(u, mean, log_std)
    if config.actor == "tanh-gaussian":
        log_prob = log_prob - jnp.sum(jnp.log(1 - jnp.tanh(u) ** 2 + 1e-6), -1)
    return to_action(config, u), log_prob


def optimizer(config: CRLConfig) -> optax.GradientTransformation:
    return optax.adam(config.lr)


def init(
    key: jax.Array,
    config: CRLConfig,
    obs_dim: int | tuple[int, ...],
    action_dim: int,
    goal_dim: int | tuple[int, ...] | None = None,
) -> TrainState:
    """Fresh networks for observations of `obs_dim` numbers (or of that shape: images are (H, W, C) uint8);
    goals are `goal_dim` (default: like observations, as relabelled future states are)."""
    check_encoder(config.encoder, obs_dim)
    k_critic, k_actor, k_value, k_state = jax.random.split(key, 4)
    obs, act = example_input(obs_dim), jnp.zeros((1, action_dim))
    goal = example_input(goal_dim or obs_dim)
    params = {
        "critic": critic_net(config).init(k_critic, obs, act, goal)["params"],
        "actor": actor_net(config, action_dim).init(k_actor, obs, goal)["params"],
    }
    if config.actor_loss == "awr":
        params["value"] = critic_net(config, 1).init(k_value, obs, None, goal)["params"]
    if config.actor_loss == "sac":
        params["log_alpha"] = jnp.zeros(())
    target = {"critic": jax.tree.map(jnp.copy, params["critic"])} if config.bootstraps else {}
    return TrainState(params, optimizer(config).init(params), k_state, jnp.zeros((), jnp.int32), target)


# --- Critic ---------------------------------------------------------------------------------------


def _encode(config: CRLConfig, critic_params, obs, actions, goals, size: int | None = None):
    """(phi, psi, log_scale) of observations (with actions; None for V) and goals."""
    return critic_net(config, size).apply({"params": critic_params}, obs, actions, goals)


def pairwise(config: CRLConfig, critic_params, obs, actions, goals, size: int | None = None) -> jax.Array:
    """(E, B, B) logits of every state-action input against every goal input."""
    phi, psi, log_scale = _encode(config, critic_params, obs, actions, goals, size)
    return jnp.exp(log_scale)[:, None, None] * critic_logits(phi, psi, config.energy)


def q_values(config: CRLConfig, critic_params, obs, actions, goals) -> jax.Array:
    """f(s, a, g) for matching rows, one per ensemble member: (E, B)."""
    phi, psi, log_scale = _encode(config, critic_params, obs, actions, goals)
    return jnp.exp(log_scale)[:, None] * paired_logits(phi, psi, config.energy)


def contrastive_loss(
    config: CRLConfig, critic_params, obs, actions, goals, size: int | None = None, row_weights=None
):
    """NCE-binary or CPC over the B x B matrix of every state-action input against every goal input;
    `row_weights` (B,) weigh the rows (filtered relabelling)."""
    logits = pairwise(config, critic_params, obs, actions, goals, size)
    if config.critic == "cpc":
        loss = cpc_loss(logits, config.cpc_logsumexp_coef, row_weights)
    else:
        loss = nce_binary_loss(logits, row_weights)
    kept = {} if row_weights is None else {"relabel_kept": jnp.mean(row_weights)}
    return loss, {"loss": loss, **contrastive_metrics(logits), **kept}


def relabel_weights(config: CRLConfig, actor_params, batch: Batch) -> jax.Array | None:
    """Filtered relabelling (Sec. 4.5, Fig. 13): 1 for each row (s, a, g) the critic may train on, else 0;
    None when the filter is off.

    The paper's convergence argument (Lemma 4.2, via C-learning's App. C.2) assumes that a relabelled
    pair is nearly on-policy for its new goal: |Q^{beta(.|., e)}(s, a, e) - Q^{beta(.|., e')}(s, a, e)|
    <= eps, with e' the goal the episode was commanded and e the goal it is relabelled with (here the
    geometric-future state g). Fig. 13 enforces it by keeping only experience "where the probability under
    the commanded goal is similar to the probability under the actually-reached goal". The formula is not
    in the text; crl reconstructs it as the action's log-likelihood under the goal-conditioned policy:
        keep (s, a, g)  iff  |log pi(a | s, g) - log pi(a | s, e')| <= eps,
    with the current actor standing in for the policy that acted (the replay keeps no old policies). For
    the tanh actor both sides share the squashing Jacobian, so it cancels and the Gaussian of atanh(a) is
    compared. Uniformly random actions (the first --random-steps) do not depend on the goal, so their rows
    always pass. A dropped row adds neither its positive nor its negatives; its goal still serves as a
    negative for the other rows. The actor's goals are not filtered: its loss uses its own actions."""
    if config.relabel_filter is None:
        return None
    net, params = actor_net(config, batch.actions.shape[-1]), jax.lax.stop_gradient(actor_params)
    squashed = config.actor == "tanh-gaussian"
    u = jnp.arctanh(jnp.clip(batch.actions, -1 + 1e-6, 1 - 1e-6)) if squashed else batch.actions

    def log_prob(goals):
        return gaussian_log_prob(u, *net.apply({"params": params}, batch.observations, goals))

    gap = jnp.abs(log_prob(batch.critic_goals) - log_prob(batch.commanded_goals))
    return ((gap <= config.relabel_filter) | ~batch.acted).astype(jnp.float32)


def next_or_future(key: jax.Array, batch: Batch, discount: float) -> jax.Array:
    """Appendix D's positives: the next state with probability (1 - gamma) / (2 - gamma), else the
    geometric-future goal."""
    take_next = jax.random.bernoulli(key, (1 - discount) / (2 - discount), (batch.observations.shape[0],))
    return jnp.where(take_next[:, None], batch.next_goals, batch.critic_goals)


def bootstrap_weight(
    config: CRLConfig, target_critic, actor_params, batch: Batch, key: jax.Array
) -> jax.Array:
    """C-learning's importance weight w = clip(exp f'(s', a', g), 0, c_learning_clip), one per row, as the
    CRL paper's code computes it:
    - f' is the *target* critic (an EMA of the critic, rate target_ema), not the critic being trained;
    - one weight shared by the ensemble: the minimum of the members' f' (min sigmoid, as theirs);
    - a' ~ pi(. | s', g) sampled from the SAC actor's Gaussian; DDPG+BC's policy is its mean (the unit std
      of its Gaussian is only the BC likelihood's), and the mean is used there.
    No gradient flows through w."""
    mean, log_std = actor_net(config, batch.actions.shape[-1]).apply(
        {"params": actor_params}, batch.next_observations, batch.random_goals
    )
    next_action = (
        policy_sample(config, mean, log_std, key)[0]
        if config.actor_loss == "sac"
        else to_action(config, mean)
    )
    f_next = jnp.min(
        q_values(config, target_critic, batch.next_observations, next_action, batch.random_goals), 0
    )
    return jax.lax.stop_gradient(jnp.clip(jnp.exp(f_next), 0.0, config.c_learning_clip))


def c_learning_critic_loss(
    config: CRLConfig, critic_params, target_critic, actor_params, batch: Batch, key: jax.Array
):
    """C-learning / NCE + C-learning on matched rows: no outer-product negatives (Appendix D)."""
    k_positives, k_action = jax.random.split(key)
    mixed = config.critic == "nce+c-learning"
    positives = next_or_future(k_positives, batch, config.discount) if mixed else batch.next_goals
    obs, actions = batch.observations, batch.actions
    pos = q_values(config, critic_params, obs, actions, positives)
    rand = q_values(config, critic_params, obs, actions, batch.random_goals)
    weight = bootstrap_weight(config, target_critic, actor_params, batch, k_action)
    loss = c_learning_loss(pos, rand, weight, config.discount, mixed)
    # Diagnostics on the B x B matrix against each row's positive, comparable with the NCE critic's.
    info = contrastive_metrics(pairwise(config, critic_params, obs, actions, positives))
    return loss, {"loss": loss, "bootstrap_weight": jnp.mean(weight), **info}


def critic_loss(
    config: CRLConfig, params: dict, target: dict, batch: Batch, key: jax.Array
) -> tuple[jax.Array, dict]:
    if config.bootstraps:
        actor = jax.lax.stop_gradient(params["actor"])
        return c_learning_critic_loss(config, params["critic"], target["critic"], actor, batch, key)
    weights = relabel_weights(config, params["actor"], batch)
    return contrastive_loss(
        config, params["critic"], batch.observations, batch.actions, batch.critic_goals, row_weights=weights
    )


# --- Actor ----------------------------------------------------------------------------------------


def ddpg_bc(config: CRLConfig, actor_params, actor_obs, goals, q_fn, batch_actions) -> tuple[jax.Array, dict]:
    """The actor's DDPG+BC loss; `q_fn(actions) -> (E, B)` evaluates the frozen critic."""
    mean, _ = actor_net(config, batch_actions.shape[-1]).apply({"params": actor_params}, actor_obs, goals)
    q = jnp.min(q_fn(jnp.clip(mean, -1, 1)), 0)
    return ddpg_bc_loss(q, mean, batch_actions, config.alpha, config.actor)


def awr(config: CRLConfig, params: dict, batch: Batch) -> tuple[jax.Array, dict]:
    """Advantage-weighted BC: weights min(exp(alpha (Q - V)), 100) on the data action's log-likelihood."""
    critic, value = jax.lax.stop_gradient(params["critic"]), jax.lax.stop_gradient(params["value"])
    q = jnp.min(q_values(config, critic, batch.observations, batch.actions, batch.actor_goals), 0)
    v = _v(config, value, batch)
    adv = q - v
    weight = jnp.minimum(jnp.exp(config.alpha * adv), AWR_MAX_WEIGHT)
    mean, log_std = actor_net(config, batch.actions.shape[-1]).apply(
        {"params": params["actor"]}, batch.observations, batch.actor_goals
    )
    if config.actor == "gaussian":
        log_lik = gaussian_log_prob(batch.actions, mean, log_std)
    else:
        log_lik = -jnp.sum((mean - batch.actions) ** 2, -1)
    loss = -jnp.mean(weight * log_lik)
    return loss, {
        "loss": loss,
        "adv": jnp.mean(adv),
        "weight": jnp.mean(weight),
        "bc_log_prob": jnp.mean(log_lik),
    }


def _v(config: CRLConfig, value_params, batch: Batch) -> jax.Array:
    phi, psi, log_scale = _encode(config, value_params, batch.observations, None, batch.actor_goals, size=1)
    return (jnp.exp(log_scale)[:, None] * paired_logits(phi, psi, config.energy))[0]


def sac(config: CRLConfig, params: dict, batch: Batch, key: jax.Array) -> tuple[jax.Array, dict]:
    """alpha_ent log pi(a~) - Q(s, a~, g) with a~ ~ pi reparameterised, plus alpha * BC; and the
    temperature's loss alpha_ent * stop_grad(-log pi - target_entropy)."""
    mean, log_std = actor_net(config, batch.actions.shape[-1]).apply(
        {"params": params["actor"]}, batch.observations, batch.actor_goals
    )
    action, log_prob = policy_sample(config, mean, log_std, key)
    critic = jax.lax.stop_gradient(params["critic"])
    q = jnp.min(q_values(config, critic, batch.observations, action, batch.actor_goals), 0)
    learned = config.entropy == "learned"
    alpha_ent = jnp.exp(params["log_alpha"]) if learned else jnp.zeros(())
    bc = (
        0.0 if config.actor == "tanh-gaussian" else -jnp.mean(gaussian_log_prob(batch.actions, mean, log_std))
    )
    actor = jnp.mean(jax.lax.stop_gradient(alpha_ent) * log_prob - q) + config.alpha * bc
    temperature = (
        jnp.mean(alpha_ent * jax.lax.stop_gradient(-log_prob - config.target_entropy)) if learned else 0.0
    )
    loss = actor + temperature
    info = {"loss": actor, "q_mean": jnp.mean(q), "entropy": -jnp.mean(log_prob), "alpha_ent": alpha_ent}
    return loss, {**info, "bc_loss": bc, "temperature_loss": temperature}


def actor_loss(config: CRLConfig, params: dict, batch: Batch, key: jax.Array) -> tuple[jax.Array, dict]:
    """The configured actor objective; the critic (and V) enter through stop_gradient."""
    if config.actor_loss == "awr":
        return awr(config, params, batch)
    if config.actor_loss == "sac":
        return sac(config, params, batch, key)
    critic = jax.lax.stop_gradient(params["critic"])

    def q_fn(actions):
        return q_values(config, critic, batch.observations, actions, batch.actor_goals)

    return ddpg_bc(config, params["actor"], batch.observations, batch.actor_goals, q_fn, batch.actions)


# --- Update ---------------------------------------------------------------------------------------


def total_loss(
    params: dict, target: dict, config: CRLConfig, batch: Batch, key: jax.Array
) -> tuple[jax.Array, dict]:
    """Critic (+ V for AWR) + actor losses; each sees the other networks through stop_gradient."""
    k_critic, k_actor = jax.random.split(key)
    c_loss, c_info = critic_loss(config, params, target, batch, k_critic)
    a_loss, a_info = actor_loss(config, params, batch, k_actor)
    info = {**prefixed("critic", c_info), **prefixed("actor", a_info)}
    loss = c_loss + a_loss
    if (
        config.actor_loss == "awr"
    ):  # V(s, g) = phi(s) . psi(g), the same contrastive objective without actions
        v_loss, v_info = contrastive_loss(
            config, params["value"], batch.observations, None, batch.critic_goals, size=1
        )
        loss, info = loss + v_loss, {**info, **prefixed("value", v_info)}
    return loss, info


def prefixed(prefix: str, info: dict) -> dict:
    return {f"{prefix}/{k}": v for k, v in info.items()}


def draw(key: jax.Array, data: DeviceData, config: CRLConfig) -> Batch:
    truncated = config.critic_goals == "truncated-geometric"
    return sample_batch(
        key, data, config.batch_size, config.discount, config.actor_goal_probs, truncated, config.augment
    )


def sample(state: TrainState, data: DeviceData, config: CRLConfig) -> Batch:
    """The minibatch of the next update: drawn with the middle third of the state's key split."""
    return draw(jax.random.split(state.rng, 3)[1], data, config)


def update(state: TrainState, batch: Batch, config: CRLConfig) -> tuple[TrainState, dict]:
    """One gradient step on `batch`; returns the new state and scalar metrics."""
    rng, _, k_loss = jax.random.split(state.rng, 3)  # the middle key drew the batch (`sample`)
    grads, info = jax.grad(total_loss, has_aux=True)(state.params, state.target, config, batch, k_loss)
    updates, opt_state = optimizer(config).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    target = {name: ema(config.target_ema, old, params[name]) for name, old in state.target.items()}
    return TrainState(params, opt_state, rng, state.step + 1, target), info


def ema(rate: float, target, online):
    """target + rate * (online - target), leaf by leaf."""
    return jax.tree.map(lambda t, o: t + rate * (o - t), target, online)


def validation_metrics(state, data: DeviceData, config: CRLConfig, key: jax.Array, batches: int = 8) -> dict:
    """Critic loss and accuracies on held-out data (no update), averaged over a few training-size batches."""

    def one(k):
        k_batch, k_loss = jax.random.split(k)
        return critic_loss(config, state.params, state.target, draw(k_batch, data, config), k_loss)[1]

    info = jax.tree.map(jnp.mean, jax.vmap(one)(jax.random.split(key, batches)))
    return prefixed("val", info)


@partial(jax.jit, static_argnums=(0, 1))
def act(config: CRLConfig, action_dim: int, state: TrainState, obs: jax.Array, goals: jax.Array) -> jax.Array:
    """Deterministic evaluation actions: the actor's mean, clipped (or squashed) to the action box."""
    mean, _ = actor_net(config, action_dim).apply({"params": state.params["actor"]}, obs, goals)
    return to_action(config, mean)


def explore(
    config: CRLConfig, action_dim: int, state: TrainState, obs: jax.Array, goals: jax.Array, key: jax.Array
) -> jax.Array:
    """Actions for collecting experience online: samples of the policy."""
    mean, log_std = actor_net(config, action_dim).apply({"params": state.params["actor"]}, obs, goals)
    return policy_sample(config, mean, log_std, key)[0]

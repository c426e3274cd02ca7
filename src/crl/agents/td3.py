"""TD3 + HER (Fujimoto et al. 2018; Andrychowicz et al. 2017), the CRL paper's main online baseline.

Goals are relabelled at sample time by the shared sampler (`batch.actor_goals`: a future state of the same
episode, or a random replay state), and the reward is the sparse goal-reaching indicator
r = 1[||s' - g|| < goal_radius], on the goal-space coordinates that s' and g show where they are images.
The critic is TD3's: twin Q(s, a, g) (observation and goal through one encoder), each regressed on

    y = r + gamma * min_i Q'_i(s', clip(pi'(s', g) + clip(eps, -c, c), -1, 1), g),   eps ~ N(0, sigma^2)

with target networks Q', pi' (EMA rate target_ema). Every `policy_delay` updates the actor maximises
Q_1(s, pi(s, g), g), less HER's penalty on its pre-tanh output, and the targets move. The point tasks
never end early, so there is no terminal mask.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import optax

from crl.agents.crl import TrainState, ema, prefixed
from crl.config import TD3Config
from crl.data.sampling import Batch, DeviceData, sample_batch
from crl.networks import Actor, GoalQ, check_encoder, ensemble, example_input


def critic_net(config: TD3Config):
    return ensemble(GoalQ, 2)(config.hidden, config.activation, config.compute_dtype, config.encoder)


def actor_net(config: TD3Config, action_dim: int) -> Actor:
    return Actor(config.hidden, action_dim, activation=config.activation, dtype=config.compute_dtype,
                 encoder=config.encoder)  # fmt: skip


def init(
    key: jax.Array, config: TD3Config, obs_dim: int, action_dim: int, goal_dim: int | None = None
) -> TrainState:
    """Critics, actor and their targets; one Adam state per network ({'critic', 'actor'}), so that the
    actor's moments move only on actor updates. Goals are `goal_dim` long (default: states)."""
    k_critic, k_actor, k_state = jax.random.split(key, 3)
    check_encoder(config.encoder, obs_dim)
    obs, act = example_input(obs_dim), jnp.zeros((1, action_dim))
    goal = example_input(goal_dim or obs_dim)
    params = {
        "critic": critic_net(config).init(k_critic, obs, act, goal)["params"],
        "actor": actor_net(config, action_dim).init(k_actor, obs, goal)["params"],
    }
    opt = optax.adam(config.lr)
    opt_state = {name: opt.init(p) for name, p in params.items()}
    target = jax.tree.map(jnp.copy, params)
    return TrainState(params, opt_state, k_state, jnp.zeros((), jnp.int32), target)


def q_values(config: TD3Config, critic_params, obs, actions, goals) -> jax.Array:
    """(2, B): both critics' Q(s, a, g)."""
    return critic_net(config).apply({"params": critic_params}, obs, actions, goals)


def preactivation(config: TD3Config, action_dim: int, actor_params, obs, goals) -> jax.Array:
    """The actor's output before tanh."""
    return actor_net(config, action_dim).apply({"params": actor_params}, obs, goals)[0]


def policy(config: TD3Config, action_dim: int, actor_params, obs, goals) -> jax.Array:
    return jnp.tanh(preactivation(config, action_dim, actor_params, obs, goals))


def reward(config: TD3Config, next_goals: jax.Array, goals: jax.Array) -> jax.Array:
    """The sparse goal-reaching reward: 1 when s' (in the goal space, on the reward_dims coordinates)
    lies within goal_radius of g."""
    gap = next_goals - goals
    if config.reward_dims is not None:
        gap = gap[..., jnp.array(config.reward_dims)]
    return (jnp.linalg.norm(gap, axis=-1) < config.goal_radius).astype(jnp.float32)


def reward_coordinates(batch: Batch) -> tuple[jax.Array, jax.Array]:
    """What the reward compares: s' and the goal, or, where they are images, the coordinates they show."""
    if batch.next_coords is None:
        return batch.next_goals, batch.actor_goals
    return batch.next_coords, batch.actor_goal_coords


def critic_loss(config: TD3Config, critic_params, target: dict, batch: Batch, key: jax.Array):
    """Both critics' squared TD error against the clipped double-Q target with target smoothing."""
    goals = batch.actor_goals
    next_action = policy(config, batch.actions.shape[-1], target["actor"], batch.next_observations, goals)
    noise = jnp.clip(config.policy_noise * jax.random.normal(key, next_action.shape), -config.noise_clip,
                     config.noise_clip)  # fmt: skip
    next_action = jnp.clip(next_action + noise, -1.0, 1.0)
    next_q = jnp.min(q_values(config, target["critic"], batch.next_observations, next_action, goals), 0)
    r = reward(config, *reward_coordinates(batch))
    y = jax.lax.stop_gradient(r + config.discount * next_q)
    q = q_values(config, critic_params, batch.observations, batch.actions, goals)
    loss = jnp.mean(jnp.sum((q - y) ** 2, 0))
    return loss, {"loss": loss, "q_mean": jnp.mean(q), "reward": jnp.mean(r)}


def actor_loss(config: TD3Config, actor_params, critic_params, batch: Batch):
    """-Q_1(s, tanh(u), g) + action_l2 * mean(u^2), with u = the actor's pre-tanh output, through the
    frozen critic. Without HER's penalty on u, an actor learning from pixels pinned both actions at +-1
    within 10k steps, whatever the frame or goal, and tanh's vanishing gradient kept them there."""
    u = preactivation(config, batch.actions.shape[-1], actor_params, batch.observations, batch.actor_goals)
    q = q_values(config, jax.lax.stop_gradient(critic_params), batch.observations, jnp.tanh(u),
                 batch.actor_goals)  # fmt: skip
    penalty = jnp.mean(u**2)
    loss = -jnp.mean(q[0]) + config.action_l2 * penalty
    return loss, {"loss": loss, "preactivation_sq": penalty}


def draw(key: jax.Array, data: DeviceData, config: TD3Config) -> Batch:
    return sample_batch(
        key, data, config.batch_size, config.discount, config.actor_goal_probs, augment=config.augment
    )


def sample(state: TrainState, data: DeviceData, config: TD3Config) -> Batch:
    """The minibatch of the next update: drawn with the middle third of the state's key split."""
    return draw(jax.random.split(state.rng, 3)[1], data, config)


def _adam_step(config: TD3Config, grads, opt_state, params):
    updates, opt_state = optax.adam(config.lr).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def update(state: TrainState, batch: Batch, config: TD3Config) -> tuple[TrainState, dict]:
    """One critic step; on every `policy_delay`-th step also one actor step and the target EMA."""
    rng, _, k_noise = jax.random.split(state.rng, 3)  # the middle key drew the batch (`sample`)
    grads, c_info = jax.grad(partial(critic_loss, config), has_aux=True)(
        state.params["critic"], state.target, batch, k_noise
    )
    critic, critic_opt = _adam_step(config, grads, state.opt_state["critic"], state.params["critic"])
    grads, a_info = jax.grad(partial(actor_loss, config), has_aux=True)(state.params["actor"], critic, batch)
    stepped, actor_opt = _adam_step(config, grads, state.opt_state["actor"], state.params["actor"])
    delayed = state.step % config.policy_delay == 0

    def when_delayed(new, old):
        return jax.tree.map(lambda n, o: jnp.where(delayed, n, o), new, old)

    params = {"critic": critic, "actor": when_delayed(stepped, state.params["actor"])}
    opt_state = {"critic": critic_opt, "actor": when_delayed(actor_opt, state.opt_state["actor"])}
    target = when_delayed(ema(config.target_ema, state.target, params), state.target)
    info = {**prefixed("critic", c_info), **prefixed("actor", a_info)}
    return TrainState(params, opt_state, rng, state.step + 1, target), info


@partial(jax.jit, static_argnums=(0, 1))
def act(config: TD3Config, action_dim: int, state: TrainState, obs: jax.Array, goals: jax.Array) -> jax.Array:
    """Deterministic evaluation actions: pi(s, g)."""
    return policy(config, action_dim, state.params["actor"], obs, goals)


def explore(
    config: TD3Config, action_dim: int, state: TrainState, obs: jax.Array, goals: jax.Array, key: jax.Array
) -> jax.Array:
    """Actions for collecting experience: pi(s, g) plus Gaussian noise, clipped to the action box."""
    noise = config.explore_noise * jax.random.normal(key, (obs.shape[0], action_dim))
    return jnp.clip(policy(config, action_dim, state.params["actor"], obs, goals) + noise, -1.0, 1.0)

"""Image pieces: uint8 frames, DrQ's random shift, the CNN encoders, the point mazes drawn in JAX."""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crl.data.images import SHIFT_PAD, augment_batch, frames_nbytes, random_shift
from crl.encoders import ENCODERS, make_encoder, to_unit_floats
from crl.envs import make_env
from crl.envs.point import point_maze
from crl.envs.point_images import FLOOR, POINT, WALL, render, wall_pixels
from crl.errors import CrlError


def test_uint8_frames_round_trip_exactly_through_the_float_conversion():
    frames = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    floats = to_unit_floats(jnp.asarray(frames))
    assert floats.dtype == jnp.float32 and float(floats.min()) >= 0.0 and float(floats.max()) <= 1.0
    np.testing.assert_array_equal(np.round(np.asarray(floats) * 255).astype(np.uint8), frames)
    assert frames_nbytes(1_000_000) == 12_288_000_000  # 12.3 GB per million 64x64x3 frames


def test_a_random_shift_is_a_crop_of_the_images_own_padded_copy():
    images = np.random.default_rng(1).integers(0, 256, (16, 12, 10, 3), dtype=np.uint8)
    shifted = np.asarray(random_shift(jax.random.PRNGKey(0), jnp.asarray(images)))
    assert shifted.shape == images.shape and shifted.dtype == np.uint8
    offsets = set()
    for i, (image, out) in enumerate(zip(images, shifted, strict=True)):
        padded = np.pad(image, ((SHIFT_PAD, SHIFT_PAD), (SHIFT_PAD, SHIFT_PAD), (0, 0)), mode="edge")
        crops = [(dy, dx) for dy in range(2 * SHIFT_PAD + 1) for dx in range(2 * SHIFT_PAD + 1)
                 if np.array_equal(padded[dy : dy + 12, dx : dx + 10], out)]  # fmt: skip
        assert crops, f"image {i} is not a shift of itself"
        offsets.update(crops)
    assert len(offsets) > 4  # each image draws its own offset


def test_augmentation_shifts_every_image_of_a_batch_with_its_probability_and_leaves_states():
    from crl.data.sampling import Batch

    rng = np.random.default_rng(2)
    images = [jnp.asarray(rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)) for _ in range(3)]
    actions = jnp.asarray(rng.uniform(-1, 1, (4, 2)), jnp.float32)
    batch = Batch(images[0], actions, images[1], images[2])
    key = jax.random.PRNGKey(3)
    augment = jax.jit(augment_batch, static_argnums=2)
    for field, value in zip(batch, augment(key, batch, 0.0), strict=True):
        assert (field is None and value is None) or np.array_equal(field, value)
    always = augment(key, batch, 1.0)
    np.testing.assert_array_equal(always.actions, actions)
    for before, after in zip(
        images, (always.observations, always.critic_goals, always.actor_goals), strict=True
    ):
        assert not np.array_equal(before, after)
        for image, out in zip(np.asarray(before), np.asarray(after), strict=True):
            padded = np.pad(image, ((SHIFT_PAD, SHIFT_PAD), (SHIFT_PAD, SHIFT_PAD), (0, 0)), mode="edge")
            assert any(np.array_equal(padded[dy : dy + 8, dx : dx + 8], out)
                       for dy in range(2 * SHIFT_PAD + 1) for dx in range(2 * SHIFT_PAD + 1))  # fmt: skip
    shifted = jax.vmap(lambda k: augment_batch(k, batch, 0.5).observations)(jax.random.split(key, 200))
    applied = np.any(np.asarray(shifted) != np.asarray(images[0])[None], axis=(1, 2, 3, 4))
    assert 0.35 < np.mean(applied) < 0.65  # one draw per batch, probability 0.5


@pytest.mark.parametrize(
    "size, stride, padding", [(8, 4, "VALID"), (4, 2, "VALID"), (3, 1, "SAME"), (3, 2, "SAME")]
)
def test_the_patch_convolution_and_pooling_equal_xlas(size, stride, padding):
    """On CPU, Conv runs as patches @ kernel and max_pool as a maximum of slices (crl.encoders says why):
    both give XLA's convolution and reduce_window, on the same parameters, with any leading axes."""
    import flax.linen as nn

    from crl.encoders import Conv, max_pool

    x = jnp.asarray(np.random.default_rng(6).normal(size=(2, 3, 17, 15, 5)), jnp.float32)
    ours = Conv(7, size, stride, padding)
    params = ours.init(jax.random.PRNGKey(0), x)
    reference = nn.Conv(7, (size, size), (stride, stride), padding=padding)
    expected = jax.vmap(lambda image: reference.apply(params, image))(x)
    np.testing.assert_allclose(ours.apply(params, x), expected, rtol=1e-4, atol=1e-4)
    pooled = jax.vmap(lambda image: nn.max_pool(image, (size, size), (stride, stride), padding=padding))(x)
    if padding == "SAME":
        np.testing.assert_array_equal(max_pool(x, size, stride), pooled)


@pytest.mark.parametrize("name, features", [("nature", 1024), ("impala-small", 512)])
def test_image_encoders_map_each_frame_to_its_own_features(name, features):
    encoder = make_encoder(name)
    frames = jnp.asarray(np.random.default_rng(4).integers(0, 256, (2, 3, 64, 64, 3), dtype=np.uint8))
    params = jax.jit(encoder.init)(jax.random.PRNGKey(0), frames[0])
    apply = jax.jit(encoder.apply)
    out = apply(params, frames)
    assert out.shape == (2, 3, features)  # any leading batch axes
    np.testing.assert_allclose(apply(params, frames[1, 2]), out[1, 2], rtol=1e-5, atol=1e-6)
    changed = frames.at[0, 0].set(0)  # one frame changes: only its features change
    diff = np.abs(np.asarray(apply(params, changed) - out)).max(-1)
    assert diff[0, 0] > 0 and not diff.reshape(-1)[1:].any()


def test_the_identity_encoder_passes_states_and_unknown_names_are_refused():
    states = jnp.arange(6.0).reshape(2, 3)
    identity = make_encoder("identity")
    params = identity.init(jax.random.PRNGKey(0), states)
    np.testing.assert_array_equal(identity.apply(params, states), states)
    with pytest.raises(CrlError, match="unknown encoder 'resnet': choose one of " + ", ".join(ENCODERS)):
        make_encoder("resnet")


def test_point_images_show_the_point_where_it_is_and_the_walls_of_the_map():
    small = point_maze("small")  # 4 x 4 free cells: 16 pixels per cell
    image = np.asarray(jax.jit(lambda p: render(small, p))(jnp.array([1.5, 2.5])))
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert tuple(image[24, 40]) == POINT and tuple(image[24, 58]) == FLOOR and tuple(image[4, 40]) == FLOOR
    assert (np.all(image == POINT, -1)).sum() == pytest.approx(np.pi * 16**2, rel=0.1)  # radius one cell
    u = point_maze("u")  # 9 rows x 3 columns: the frame right of the map is wall
    walls = wall_pixels(u)
    assert walls[:, 30:].all() and not walls[:7, :7].any() and walls[10, 10]  # cell (1, 1) is a wall
    batch = jax.vmap(lambda p: render(u, p))(jnp.array([[0.5, 0.5], [8.5, 2.5]]))
    assert tuple(batch[0, 3, 3]) == POINT and tuple(batch[1, 3, 3]) == FLOOR
    assert tuple(batch[1, 30, 3]) == WALL  # cell (4, 0) is a wall


def test_crl_with_a_cnn_encoder_updates_from_image_observations_and_goals():
    """The encoder is injected: the losses' gradients reach each network's own CNN from uint8 frames, the
    critic's CNNs from the critic loss only (the actor sees the critic through stop_gradient). The
    learning test below runs the whole update."""
    from crl.agents import crl
    from crl.config import CRLConfig
    from crl.data.sampling import Batch

    config = CRLConfig(batch_size=4, hidden=(16,), latent_dim=8, encoder="nature")
    state = jax.jit(crl.init, static_argnums=(1, 2, 3))(jax.random.PRNGKey(0), config, (64, 64, 3), 2)
    assert {"obs_encoder", "goal_encoder", "phi", "psi"} <= set(state.params["critic"])
    assert "encoder" in state.params["actor"]
    rng = np.random.default_rng(5)
    frames = jnp.asarray(rng.integers(0, 256, (3, 4, 64, 64, 3), dtype=np.uint8))
    batch = Batch(frames[0], jnp.asarray(rng.uniform(-1, 1, (4, 2)), jnp.float32), frames[1], frames[2])
    critic_grads = jax.jit(
        jax.grad(lambda p: crl.critic_loss(config, p, state.target, batch, jax.random.PRNGKey(1))[0])
    )(state.params)
    actor_grads = jax.jit(jax.grad(lambda p: crl.actor_loss(config, p, batch, jax.random.PRNGKey(2))[0]))(
        state.params
    )

    def moved(tree):
        return any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(tree))

    assert moved(critic_grads["critic"]["obs_encoder"]) and moved(critic_grads["critic"]["goal_encoder"])
    assert moved(actor_grads["actor"]["encoder"]) and not moved(actor_grads["critic"])


def test_an_image_encoder_on_state_observations_is_one_line(tmp_path, capsys):
    from crl.cli import main

    args = [
        "train",
        "--env",
        "point-small",
        "--agent.encoder",
        "nature",
        "--run-dir",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--agent.encoder nature reads images, but these observations are 2 numbers" in err
    assert len(err.strip().splitlines()) == 1


def test_an_image_maze_runs_the_state_maze_loop_and_stores_its_frames_as_uint8():
    """The same collection code, keys and dynamics on point-u and point-u-image: the image replay holds
    exactly the renders of the state replay's positions, as uint8, and each episode's commanded goal once."""
    from crl.online import Rounds, init_collector, run_online_chunk
    from crl.presets import preset_config
    from crl.train import initial_states, stack

    runs = {}
    for name in ("point-u", "point-u-image"):
        config = preset_config("quick", None, "crl", env=name)
        config = dataclasses.replace(config, num_envs=2, collect=10, replay_size=200)
        env = make_env(name)
        states = initial_states(dataclasses.replace(config.agent, encoder="identity"), [0], 2, 2)
        collectors = stack([init_collector(env, config, seed=0)])
        _, collectors, _ = run_online_chunk(  # 15 rounds of 5 steps per environment: 1.5 episodes each
            states, collectors, env, Rounds.of(config), config.agent, 15, False, jnp.int32(0)
        )
        runs[name] = jax.tree.map(lambda x: x[0], collectors.replay)
    positions, frames = runs["point-u"], runs["point-u-image"]
    assert frames.episode_observations.dtype == jnp.uint8 and frames.episode_goals.dtype == jnp.uint8
    assert frames.episode_goals.shape == (4, 64, 64, 3)  # one goal image per episode slot
    assert int(frames.inserted) == int(positions.inserted) == 2
    u = make_env("point-u-image")
    np.testing.assert_array_equal(
        frames.episode_observations[:2],
        jax.vmap(jax.vmap(u.observation))(_at(positions.episode_observations[:2])),
    )
    np.testing.assert_array_equal(
        frames.episode_goals[:2], jax.vmap(u.goal)(_at(positions.episode_goals[:2]))
    )


def _at(positions):
    """Point states at `positions`, whose goals are there too (for rendering either)."""
    from crl.envs.point import PointState

    return PointState(positions, positions, jnp.zeros(positions.shape[:-1], bool))


def test_a_replay_larger_than_the_device_is_refused_in_one_line(tmp_path, capsys):
    from crl.cli import main

    args = ["train", "--env", "point-spiral11x11-image", "--replay-size", "100000000", "--run-dir",
            str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "a replay of 100,000,000 transitions" in err and "GiB" in err and "lower --replay-size" in err


@pytest.mark.parametrize("preset", ["quick", "crl-paper-online"])
def test_presets_take_table_2s_image_settings_on_an_image_environment(preset):
    from crl.presets import preset_config

    images = preset_config(preset, None, "crl", env="point-spiral11x11-image")
    states = preset_config(preset, None, "crl", env="point-spiral11x11")
    assert (images.agent.encoder, states.agent.encoder) == ("nature", "identity")
    assert (images.agent.entropy, images.agent.target_entropy) == ("learned", -2.0)  # -dim(a)
    assert states.agent.entropy == "off"
    assert (images.collect, states.collect) == (64, 16)  # Table 2's train-collect interval
    if preset == "quick":
        assert (images.agent.batch_size, states.agent.batch_size) == (32, 128)  # sized for a CPU
        # its replay keeps every transition of the run, and fits a laptop (a 1M replay: 12.3 GB of frames)
        from crl.data.memory import tree_nbytes
        from crl.online import init_collector

        replay = jax.eval_shape(lambda: init_collector(make_env(images.env), images, 0).replay)
        assert images.replay_size >= images.steps and tree_nbytes(replay) < 2 * 2**30
    for length in ("steps", "log_every", "checkpoint_every", "eval_every", "random_steps"):
        assert getattr(images, length) % 64 == 0  # whole rounds
    images.validate()


def test_agents_without_an_image_encoder_refuse_images_in_one_line():
    from crl.agents import gcbc, mrcrl
    from crl.config import GCBCConfig, MRCRLConfig

    with pytest.raises(CrlError, match="--agent mrcrl learns from states only"):
        mrcrl.init(jax.random.PRNGKey(0), MRCRLConfig(), (64, 64, 3), 2)
    with pytest.raises(CrlError, match="these observations are 64x64x3 images: add --agent.encoder nature"):
        gcbc.init(jax.random.PRNGKey(0), GCBCConfig(), (64, 64, 3), 2)
    state = jax.jit(gcbc.init, static_argnums=(1, 2, 3))(
        jax.random.PRNGKey(0), GCBCConfig(hidden=(8,), encoder="nature"), (64, 64, 3), 2
    )
    assert "encoder" in state.params["actor"]


FULL = os.environ.get("CRL_TEST_SCALE") == "full"


@pytest.fixture
def optimised_programs():
    """The learning test runs many image updates: XLA's full optimisation (conftest lowers it for the
    other tests' tiny programs) pays for its compiling here."""
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", True)


def random_success(env, episodes: int) -> float:
    """The success rate of uniform random actions over `episodes` episodes of a JAX point maze."""

    def episode(key):
        k_reset, k_steps = jax.random.split(key)

        def step(state, k):
            k_action, k_env = jax.random.split(k)
            return env.step(state, jax.random.uniform(k_action, (2,), minval=-1, maxval=1), k_env), None

        keys = jax.random.split(k_steps, env.episode_length)
        return jax.lax.scan(step, env.reset(k_reset), keys)[0].succeeded

    return float(jnp.mean(jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(7), episodes))))


@pytest.mark.slow
def test_crl_learns_the_image_maze_from_pixels(tmp_path, optimised_programs):
    """CRL with the Nature CNN, from 64x64 frames alone, on point-fourrooms-image (the quick preset:
    batch 32 on images). Full form: 30k environment steps, after which its deterministic policy reaches
    more goals than uniform random actions. CI's reduced form: 1,024 random steps and 1,024 updates, after
    which the critic picks each frame's own future frame out of the batch's 32 at three times chance: the
    first thing learnt from pixels (with the point drawn at half its size it stayed at chance;
    crl.envs.point_images)."""
    from crl.logs import read_jsonl
    from crl.presets import preset_config
    from crl.train import train

    name = "point-fourrooms-image"
    config = preset_config("quick", None, "crl", env=name)
    steps, random_steps = (30_016, 2_048) if FULL else (2_048, 1_024)
    config = dataclasses.replace(
        config, steps=steps, random_steps=random_steps, log_every=256, checkpoint_every=steps, eval_every=0,
        eval_episodes=200 if FULL else 0, replay_size=100_000, run_dir=tmp_path, progress=False,
    )  # fmt: skip
    results = train(config)
    accuracy = read_jsonl(tmp_path / "metrics.jsonl")[-1]["critic/categorical_accuracy"]
    assert accuracy >= 3 / 32, accuracy  # over the last 256 updates: 0.149 here (0.043 over the 256 before)
    if FULL:
        random = random_success(make_env(name), 1000)  # 28%
        assert results[0].overall > random + 0.1, (results[0].overall, random)

"""Image pieces: uint8 frames, DrQ's random shift, the CNN encoders, the point mazes drawn in JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crl.data.images import SHIFT_PAD, frames_nbytes, maybe_shift, random_shift
from crl.encoders import ENCODERS, make_encoder, to_unit_floats
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


def test_the_shift_applies_with_its_probability():
    images = jnp.asarray(np.random.default_rng(2).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8))
    key = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(maybe_shift(key, images, 0.0), images)
    always = maybe_shift(key, images, 1.0)
    np.testing.assert_array_equal(always, random_shift(jax.random.split(key)[1], images))
    assert not np.array_equal(always, images)


@pytest.mark.parametrize("name, features", [("nature", 1024), ("impala-small", 512)])
def test_image_encoders_map_each_frame_to_its_own_features(name, features):
    encoder = make_encoder(name)
    frames = jnp.asarray(np.random.default_rng(4).integers(0, 256, (2, 3, 64, 64, 3), dtype=np.uint8))
    params = encoder.init(jax.random.PRNGKey(0), frames[0])
    out = encoder.apply(params, frames)
    assert out.shape == (2, 3, features)  # any leading batch axes
    np.testing.assert_allclose(encoder.apply(params, frames[1, 2]), out[1, 2], rtol=1e-5, atol=1e-6)
    changed = frames.at[0, 0].set(0)  # one frame changes: only its features change
    diff = np.abs(np.asarray(encoder.apply(params, changed) - out)).max(-1)
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
    assert tuple(image[24, 40]) == POINT and tuple(image[24, 50]) == FLOOR and tuple(image[10, 40]) == FLOOR
    assert (np.all(image == POINT, -1)).sum() == pytest.approx(np.pi * 8**2, rel=0.15)  # radius half a cell
    u = point_maze("u")  # 9 rows x 3 columns: the frame right of the map is wall
    walls = wall_pixels(u)
    assert walls[:, 30:].all() and not walls[:7, :7].any() and walls[10, 10]  # cell (1, 1) is a wall
    batch = jax.vmap(lambda p: render(u, p))(jnp.array([[0.5, 0.5], [8.5, 2.5]]))
    assert tuple(batch[0, 3, 3]) == POINT and tuple(batch[1, 3, 3]) == FLOOR
    assert tuple(batch[1, 30, 3]) == WALL  # cell (4, 0) is a wall


def test_crl_with_a_cnn_encoder_updates_from_image_observations_and_goals():
    """The encoder is injected: the same update trains each network's own CNN from uint8 frames, the
    critic's CNNs by the critic loss only (the actor sees the critic through stop_gradient)."""
    from crl.agents import crl
    from crl.config import CRLConfig
    from crl.data.sampling import Batch

    config = CRLConfig(batch_size=4, hidden=(16,), latent_dim=8, encoder="nature")
    state = crl.init(jax.random.PRNGKey(0), config, (64, 64, 3), 2)
    assert {"obs_encoder", "goal_encoder", "phi", "psi"} <= set(state.params["critic"])
    assert "encoder" in state.params["actor"]
    rng = np.random.default_rng(5)
    frames = jnp.asarray(rng.integers(0, 256, (3, 4, 64, 64, 3), dtype=np.uint8))
    batch = Batch(frames[0], jnp.asarray(rng.uniform(-1, 1, (4, 2)), jnp.float32), frames[1], frames[2])
    critic_grads = jax.grad(
        lambda p: crl.critic_loss(config, p, state.target, batch, jax.random.PRNGKey(1))[0]
    )(state.params)
    actor_grads = jax.grad(lambda p: crl.actor_loss(config, p, batch, jax.random.PRNGKey(2))[0])(state.params)

    def moved(tree):
        return any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(tree))

    assert moved(critic_grads["critic"]["obs_encoder"]) and moved(critic_grads["critic"]["goal_encoder"])
    assert moved(actor_grads["actor"]["encoder"]) and not moved(actor_grads["critic"])
    new, info = jax.jit(crl.update, static_argnums=2)(state, batch, config)
    assert all(np.isfinite(float(v)) for v in info.values())
    assert not np.array_equal(
        new.params["critic"]["obs_encoder"]["Conv_0"]["kernel"],
        state.params["critic"]["obs_encoder"]["Conv_0"]["kernel"],
    )


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

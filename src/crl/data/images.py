"""Image observations on the device: frames stay uint8 (a quarter of float32's memory), and DrQ's
random-shift augmentation runs inside the compiled sampler."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

SHIFT_PAD = 4  # pixels: DrQ's (and OGBench's) shift of up to 4 pixels each way at 64x64


def frames_nbytes(frames: int, shape: tuple[int, ...] = (64, 64, 3)) -> int:
    """Bytes of `frames` uint8 frames of `shape`."""
    return frames * int(np.prod(shape))


def random_shift(key: jax.Array, images: jax.Array, pad: int = SHIFT_PAD) -> jax.Array:
    """Each image of the batch (B, H, W, C) padded by `pad` repeated edge pixels and cropped back to
    H x W at its own random offset: a shift of up to `pad` pixels each way that never mixes images."""
    height, width = images.shape[-3:-1]
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    offsets = jax.random.randint(key, (images.shape[0], 2), 0, 2 * pad + 1)

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, image.shape[-1]))

    return jax.vmap(crop)(padded, offsets)


def maybe_shift(key: jax.Array, images: jax.Array, probability: float, pad: int = SHIFT_PAD) -> jax.Array:
    """The batch shifted (random_shift) with `probability`, as one draw for the whole batch (as OGBench
    applies its augmentation), else unchanged."""
    k_apply, k_shift = jax.random.split(key)
    return jnp.where(jax.random.uniform(k_apply) < probability, random_shift(k_shift, images, pad), images)

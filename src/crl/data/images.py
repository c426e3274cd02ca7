"""Image observations on the device: frames stay uint8 (a quarter of float32's memory), and DrQ's
random-shift augmentation runs inside the compiled sampler."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

SHIFT_PAD = 4  # pixels: DrQ's (and OGBench's) shift of up to 4 pixels each way at 64x64


def is_image(shape: int | tuple[int, ...]) -> bool:
    """Whether observations of this shape are images (H, W, C); vectors are states."""
    return not isinstance(shape, int) and len(shape) == 3


def storage_dtype(shape: int | tuple[int, ...]) -> jnp.dtype:
    """How observations of this shape are stored on the device: images as uint8, states as float32."""
    return jnp.uint8 if is_image(shape) else jnp.float32


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


def augment_batch(key: jax.Array, batch: tuple, probability: float, pad: int = SHIFT_PAD) -> tuple:
    """With `probability`, every image of the minibatch (a NamedTuple: its uint8 fields) randomly shifted,
    each image its own shift; one draw decides for the whole minibatch, as OGBench applies its
    augmentation. States pass unchanged."""
    k_apply, k_shift = jax.random.split(key)
    images = [name for name, x in batch._asdict().items() if x is not None and x.dtype == jnp.uint8]

    def shift(b):
        keys = jax.random.split(k_shift, len(images))
        shifted = zip(images, keys, strict=True)
        return b._replace(**{name: random_shift(k, getattr(b, name), pad) for name, k in shifted})

    return jax.lax.cond(jax.random.uniform(k_apply) < probability, shift, lambda b: b, batch)

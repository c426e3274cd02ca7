"""Observation encoders: what turns an observation or a goal into features before the action joins.

States pass through unchanged (`identity`). Images (H, W, C) uint8, with any leading batch axes, go
through a CNN after the conversion to [0, 1] floats, which happens here, inside the compiled update, so
that frames stay uint8 on the device:
- `nature`: the CNN of Mnih et al. (2015), the CRL paper's choice for its image tasks (Table 2): 32 8x8
  filters of stride 4, 64 4x4 of stride 2, 64 3x3 of stride 1 (ReLU, no padding), flattened: 1,024
  features from a 64x64 frame.
- `impala-small`: OGBench's small IMPALA encoder for its visual datasets: three stages (16, 32, 32
  channels) of a 3x3 convolution, 3x3 max pooling of stride 2 and one pre-activation residual block,
  then ReLU, flattening and a 512-unit GELU layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from crl.errors import CrlError


def to_unit_floats(images: jax.Array) -> jax.Array:
    """uint8 frames as float32 in [0, 1]."""
    return images.astype(jnp.float32) / 255.0


def _flatten_image(x: jax.Array) -> jax.Array:
    return x.reshape(*x.shape[:-3], -1)


class Identity(nn.Module):
    """States are their own features."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return x


class NatureCNN(nn.Module):
    """Mnih et al.'s three convolutions, flattened."""

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = to_unit_floats(images)
        for features, size, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            x = nn.relu(nn.Conv(features, (size, size), (stride, stride), padding="VALID")(x))
        return _flatten_image(x)


class ImpalaEncoder(nn.Module):
    """IMPALA stages (conv, max pool, residual blocks), then one dense layer."""

    stages: Sequence[int] = (16, 32, 32)
    blocks: int = 1
    dense: int = 512

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = to_unit_floats(images)
        for width in self.stages:
            x = nn.Conv(width, (3, 3))(x)
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
            for _ in range(self.blocks):
                residual = nn.Conv(width, (3, 3))(nn.relu(x))
                x = x + nn.Conv(width, (3, 3))(nn.relu(residual))
        return nn.gelu(nn.Dense(self.dense)(_flatten_image(nn.relu(x))))


ENCODERS: dict[str, type[nn.Module]] = {
    "identity": Identity,
    "nature": NatureCNN,
    "impala-small": ImpalaEncoder,
}


def make_encoder(encoder: str, **module_args) -> nn.Module:
    """The encoder called `encoder` (ENCODERS), with its default sizes; `module_args` go to the flax
    module (its `name` inside a parent)."""
    if encoder not in ENCODERS:
        raise CrlError(f"unknown encoder {encoder!r}: choose one of {', '.join(ENCODERS)}")
    return ENCODERS[encoder](**module_args)

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

import functools
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


def windows(x: jax.Array, size: int, stride: int) -> list[jax.Array]:
    """The size * size shifted views (..., H', W', C) of x (..., H, W, C) that a size x size window at
    every stride-th pixel sees (no padding), row by row: element [dy * size + dx] is each window's pixel
    (dy, dx)."""
    height, width = (x.shape[-3] - size) // stride + 1, (x.shape[-2] - size) // stride + 1
    rows, cols = stride * (height - 1) + 1, stride * (width - 1) + 1
    return [
        x[..., dy : dy + rows : stride, dx : dx + cols : stride, :]
        for dy in range(size)
        for dx in range(size)
    ]


def patches(x: jax.Array, size: int, stride: int) -> jax.Array:
    """(..., H', W', size * size * C): each window's pixels, flattened as a kernel (size, size, C, F) is."""
    return jnp.concatenate(windows(x, size, stride), -1)


def _same_padding(x: jax.Array, size: int, stride: int, value: float = 0.0) -> jax.Array:
    """x padded as XLA's SAME: the output has ceil(H / stride) rows, the extra padding at the end."""
    pads = []
    for length in x.shape[-3:-1]:
        total = max((-(-length // stride) - 1) * stride + size - length, 0)
        pads.append((total // 2, total - total // 2))
    return jnp.pad(x, [(0, 0)] * (x.ndim - 3) + pads + [(0, 0)], constant_values=value)


class Conv(nn.Module):
    """A 2D convolution with nn.Conv's parameters (kernel (size, size, C, F), bias), on any leading axes.

    On CPU it runs as a matmul of the image's patches with the flattened kernel: XLA's CPU convolution
    gradients are slower than that matmul alone (1.75x at batch 256), and inside lax.scan, as training
    runs them, they keep layouts that fall back to a generic loop (jax-ml/jax#12868): 36x slower at
    batch 256 (benchmarks/images.py). Elsewhere it is XLA's convolution (cuDNN on NVIDIA GPUs)."""

    features: int
    size: int
    stride: int = 1
    padding: str = "VALID"  # or "SAME"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (self.size, self.size, x.shape[-1], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if self.padding == "SAME":
            x = _same_padding(x, self.size, self.stride)
        if jax.default_backend() == "cpu":
            return patches(x, self.size, self.stride) @ kernel.reshape(-1, self.features) + bias
        flat = x.reshape(-1, *x.shape[-3:])
        y = jax.lax.conv_general_dilated(
            flat, kernel, (self.stride, self.stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return y.reshape(*x.shape[:-3], *y.shape[1:]) + bias


def max_pool(x: jax.Array, size: int, stride: int) -> jax.Array:
    """SAME max pooling as the maximum of size x size strided slices (its gradient is a select, where
    reduce_window's is a scatter that XLA CPU runs slowly inside loops)."""
    return functools.reduce(jnp.maximum, windows(_same_padding(x, size, stride, -jnp.inf), size, stride))


class NatureCNN(nn.Module):
    """Mnih et al.'s three convolutions, flattened."""

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = to_unit_floats(images)
        for features, size, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            x = nn.relu(Conv(features, size, stride)(x))
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
            x = Conv(width, 3, padding="SAME")(x)
            x = max_pool(x, 3, 2)
            for _ in range(self.blocks):
                residual = Conv(width, 3, padding="SAME")(nn.relu(x))
                x = x + Conv(width, 3, padding="SAME")(nn.relu(residual))
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

"""Image observations: CRL updates/s with each CNN encoder, crl's CPU convolution against XLA's, point-maze
frames rendered per second in JAX, and the memory of a 1M-frame buffer; written to BENCHMARKS.md.

python benchmarks/images.py [--runs nature:256 impala-small:256] [--updates 5] [--conv-batch 256]

The update is `crl.agents.crl.update` (the one every run takes) with the crl-paper-online agent (Table 2:
2 x 256 hidden, representation 64, one critic, the SAC actor) and `--agent.encoder` set, on a fixed batch
of random 64x64x3 uint8 frames: sampling from an image buffer is not in the figure. The convolution
comparison times one gradient step of the Nature CNN alone, built from crl's `Conv` (patches @ kernel on
CPU) and from flax's `nn.Conv` (XLA's convolution), inside lax.scan and called alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from report import publish

from crl.agents import crl
from crl.data.images import frames_nbytes
from crl.data.sampling import Batch
from crl.encoders import NatureCNN
from crl.envs.point import point_maze
from crl.envs.point_images import render
from crl.presets import preset_config

SECTION = "## Image observations"
SHAPE = (64, 64, 3)


def _timed(fn, *args, repeats: int = 3) -> float:
    """Median seconds of `fn(*args)` over `repeats` runs, after one untimed (compiling) run."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def update_rates(encoder: str, batch_size: int, updates: int) -> tuple[float, float]:
    """Updates/s in a chunk of `updates` under lax.scan (as the training loop runs them), and of one
    jitted update called alone."""
    base = preset_config("crl-paper-online", None, "crl", env="point-spiral11x11").agent
    config = dataclasses.replace(base, encoder=encoder, batch_size=batch_size)
    state = crl.init(jax.random.PRNGKey(0), config, SHAPE, 2)
    rng = np.random.default_rng(0)
    frames = jnp.asarray(rng.integers(0, 256, (5, batch_size, *SHAPE), dtype=np.uint8))
    actions = jnp.asarray(rng.uniform(-1, 1, (batch_size, 2)), jnp.float32)
    batch = Batch(frames[0], actions, frames[1], frames[2], frames[3], frames[4], frames[1])

    @jax.jit
    def chunk(state, batch):  # the batch an argument: as a closed-over constant XLA would fold the CNN
        return jax.lax.scan(lambda s, _: (crl.update(s, batch, config)[0], None), state, None, updates)[0]

    single = jax.jit(crl.update, static_argnums=2)
    return updates / _timed(chunk, state, batch), 1 / _timed(single, state, batch, config)


def render_rate(frames: int = 4096) -> float:
    maze = point_maze("spiral11x11")
    positions = jax.random.uniform(jax.random.PRNGKey(0), (frames, 2), maxval=11.0)
    draw = jax.jit(jax.vmap(lambda p: render(maze, p)))
    return frames / _timed(draw, positions, repeats=5)


class _FlaxNatureCNN(nn.Module):
    """The Nature CNN with flax's nn.Conv: XLA's convolution, for the comparison."""

    @nn.compact
    def __call__(self, images):
        x = images.astype(jnp.float32) / 255.0
        for features, size, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            x = nn.relu(nn.Conv(features, (size, size), (stride, stride), padding="VALID")(x))
        return x.reshape(*x.shape[:-3], -1)


def conv_rates(module: nn.Module, batch_size: int, steps: int = 4) -> tuple[float, float]:
    """Seconds per SGD step of the CNN alone (loss: the features' squared norm), inside lax.scan over
    `steps` batches and as one jitted step."""
    frames = jnp.asarray(
        np.random.default_rng(0).integers(0, 256, (steps, batch_size, *SHAPE), dtype=np.uint8)
    )
    params = jax.jit(module.init)(jax.random.PRNGKey(0), frames[0])

    def step(p, x):
        grads = jax.grad(lambda p: jnp.sum(module.apply(p, x) ** 2))(p)
        return jax.tree.map(lambda w, g: w - 1e-6 * g, p, grads)

    scanned = jax.jit(lambda p, xs: jax.lax.scan(lambda p, x: (step(p, x), None), p, xs)[0])
    return _timed(scanned, params, frames) / steps, _timed(jax.jit(step), params, frames[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["nature:256", "impala-small:256"], help="ENCODER:BATCH")
    parser.add_argument("--updates", type=int, default=5, help="updates per timed chunk")
    parser.add_argument("--conv-batch", type=int, default=256, help="batch of the convolution comparison")
    args = parser.parse_args()
    convs = []
    for name, module in (("crl `Conv`", NatureCNN()), ("flax `nn.Conv`", _FlaxNatureCNN())):
        scanned, alone = conv_rates(module, args.conv_batch)
        convs.append(f"| {name} | {scanned:.3g} | {alone:.3g} |")
        print(convs[-1], flush=True)
    rows = []
    for run in args.runs:
        name, batch = run.split(":")
        scanned, alone = update_rates(name, int(batch), args.updates)
        rows.append(f"| {name} | {batch} | {1 / scanned:.3g} | {1 / alone:.3g} |")
        print(rows[-1], flush=True)
    device = jax.devices()[0].device_kind
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/images.py --runs {' '.join(args.runs)} --updates {args.updates} "
        f"--conv-batch {args.conv_batch}` on "
        f"{datetime.date.today()}. Machine: {platform.machine()}, {os.cpu_count()} CPU cores, JAX device: "
        f"{device}; jax {jax.__version__}. Medians of 3 timed chunks after one compiling chunk.",
        "",
        "Seconds per CRL update from 64x64x3 frames, the crl-paper-online agent "
        "(Table 2) with the encoder named (each of the critic's two inputs and the actor have their own "
        "CNN); a fixed batch, so sampling is not included. The columns compare the update inside lax.scan "
        "(as the training loop runs it) with one jitted update called alone:",
        "",
        "| encoder | batch | s/update under lax.scan | s/update, one jitted update |",
        "|---|---|---|---|",
        *rows,
        "",
        f"The Nature CNN's convolutions alone: seconds per SGD step at batch {args.conv_batch}, built from "
        "crl's `Conv` (on CPU: a matmul of the image's patches) and from flax's `nn.Conv` (XLA's "
        "convolution), inside lax.scan (4 steps) and called alone:",
        "",
        "| convolution | s/step under lax.scan | s/step, one jitted step |",
        "|---|---|---|",
        *convs,
        "",
        f"Point-maze frames drawn in JAX (spiral11x11, 4,096 positions in one jitted batch): "
        f"{render_rate():,.0f} frames/s.",
        "",
        f"Memory: 1M frames of 64x64x3 uint8 take {frames_nbytes(1_000_000) / 1e9:.1f} GB "
        f"({frames_nbytes(1_000_000) * 4 / 1e9:.0f} GB as float32).",
    ]
    publish(lines)


if __name__ == "__main__":
    main()

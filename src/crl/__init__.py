"""crl: contrastive goal-conditioned reinforcement learning on OGBench, in JAX."""

__version__ = "0.1.0"

"""crl: contrastive goal-conditioned reinforcement learning on OGBench, in JAX."""

import os
import sys

__version__ = "0.1.0"

# MuJoCo chooses its OpenGL backend when it is first imported. Where no display exists (a Linux server),
# render off-screen with EGL, unless the user chose a backend.
if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")

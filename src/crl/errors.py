"""The one exception type whose message reaches the user as a single line."""


class CrlError(Exception):
    """A problem the user can fix: the message names the problem and the fix, in one line."""


class EnvironmentFailure(CrlError):
    """An environment raised, or returned a non-finite state, mid-episode (the training loop adds where
    the run can resume from)."""


def cannot_render(exc: Exception) -> CrlError:
    """The one line for MuJoCo failing to render (it raises several types when OpenGL is missing)."""
    return CrlError(
        f"MuJoCo cannot render here ({type(exc).__name__}: {exc}); install EGL (Debian: apt install libegl1) "
        "or OSMesa and set MUJOCO_GL=osmesa; a script must import crl before mujoco, which reads MUJOCO_GL "
        "once (crl sets egl where there is no display)"
    )

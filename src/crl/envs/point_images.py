"""Top-down images of the point mazes, drawn in JAX so that an image run acts inside the compiled program
on any device. An observation shows the walls and the point; a goal image is the view of the point at the
goal (so relabelled goals, images of future states, and commanded goals look alike).

The map's rows run down the image and its columns across, scaled so that its longer side fills the frame;
the frame beyond a narrow map is drawn as wall, as are positions outside the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from crl.envs.point import PointMaze, PointState

IMAGE_SIZE = 64
FLOOR = (235, 235, 235)
WALL = (60, 60, 60)
POINT = (30, 90, 220)
# The point's radius. At half a cell it covers ~26 of 4,096 pixels on an 11x11 map: the CNN's features
# then barely vary across frames (spread 0.009 against 0.095 at one cell), and the critic stayed at chance
# accuracy for 1,000 updates where at one cell it reached 6x chance (throwaway probe, point-fourrooms-image).
POINT_RADIUS = 1.0  # cells


def pixel_centres(maze: PointMaze, size: int = IMAGE_SIZE) -> np.ndarray:
    """(size, size, 2): the maze position (row, col) at each pixel's centre."""
    scale = max(maze.walls.shape) / size
    centres = (np.arange(size) + 0.5) * scale
    return np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).astype(np.float32)


def wall_pixels(maze: PointMaze, size: int = IMAGE_SIZE) -> np.ndarray:
    """(size, size) bool: the pixels whose centre lies in a wall or off the map."""
    rows, cols = maze.walls.shape
    cells = np.floor(pixel_centres(maze, size)).astype(int)
    inside = (cells[..., 0] < rows) & (cells[..., 1] < cols)
    return ~inside | maze.walls[np.minimum(cells[..., 0], rows - 1), np.minimum(cells[..., 1], cols - 1)]


def render(maze: PointMaze, position: jax.Array, size: int = IMAGE_SIZE) -> jax.Array:
    """(size, size, 3) uint8: the maze with the point at `position` (row, col)."""
    background = np.where(wall_pixels(maze, size)[..., None], WALL, FLOOR).astype(np.uint8)
    distance = jnp.linalg.norm(jnp.asarray(pixel_centres(maze, size)) - position, axis=-1)
    return jnp.where((distance <= POINT_RADIUS)[..., None], jnp.asarray(POINT, jnp.uint8), background)


@dataclass(frozen=True)
class PointMazeImages(PointMaze):
    """The same maze and dynamics, observed as images: s is `render(position)`, g is `render(goal)`."""

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return (IMAGE_SIZE, IMAGE_SIZE, 3)

    def observation(self, state: PointState) -> jax.Array:
        return render(self, state.position)

    def goal(self, state: PointState) -> jax.Array:
        return render(self, state.goal)

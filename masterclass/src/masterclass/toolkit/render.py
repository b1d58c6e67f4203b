"""The geometry of an augmented copy: a rotation about the centre, after an optional mirror.

Both renderers use the same transform: :func:`render` draws one copy with NumPy for
:meth:`~masterclass.toolkit.events.Event.show_image`, and the model feeds
:func:`inverse_transforms` to TensorFlow's ``ImageProjectiveTransformV3`` for whole
training batches. A test checks that both agree within one grey level.

Examples
--------
>>> import numpy as np
>>> image = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
>>> bool((render(image, 0.0, True) == image[:, ::-1]).all())
True
>>> inverse_transforms(np.array([0.0]), np.array([False]), size=2).round(3).tolist()
[[1.0, 0.0, 0.0, -0.0, 1.0, 0.0, 0.0, 0.0]]
"""

from __future__ import annotations

import numpy as np

from masterclass.data import IMAGE_SHAPE

#: Width and height of an event display in pixels.
IMAGE_SIZE = IMAGE_SHAPE[0]


def inverse_transforms(angles: np.ndarray, mirrors: np.ndarray, size: int = IMAGE_SIZE):
    """Return the projective transforms that map output pixels back to source pixels.

    The layout is TensorFlow's ``ImageProjectiveTransformV3`` vector
    ``[a0, a1, a2, b0, b1, b2, c0, c1]``: an output pixel ``(x, y)`` reads the
    source at ``(a0 x + a1 y + a2, b0 x + b1 y + b2)``. The copy is mirrored
    left–right first and then turned about the image centre.
    """
    theta = np.deg2rad(np.asarray(angles, dtype=np.float64))
    sign = np.where(np.asarray(mirrors, dtype=bool), -1.0, 1.0)
    centre = (size - 1) / 2.0
    cos, sin = np.cos(theta), np.sin(theta)
    a0, a1 = sign * cos, sign * sin
    b0, b1 = -sin, cos
    a2 = centre - a0 * centre - a1 * centre
    b2 = centre - b0 * centre - b1 * centre
    zeros = np.zeros_like(theta)
    return np.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=-1).astype(np.float32)


def render(image: np.ndarray, angle: float, mirror: bool) -> np.ndarray:
    """Render one rotated (and maybe mirrored) copy of the square *image* with NumPy.

    Bilinear interpolation, black outside the picture; the same geometry as
    the batched TensorFlow path used for training.
    """
    height, width = image.shape[:2]
    a0, a1, a2, b0, b1, b2, _, _ = inverse_transforms(
        np.array([angle]), np.array([mirror]), size=width
    )[0]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    src_x = a0 * xs + a1 * ys + a2
    src_y = b0 * xs + b1 * ys + b2
    x0 = np.floor(src_x).astype(np.int64)
    y0 = np.floor(src_y).astype(np.int64)
    fx = (src_x - x0)[..., None]
    fy = (src_y - y0)[..., None]
    padded = np.zeros((height + 2, width + 2, image.shape[2]), dtype=np.float32)
    padded[1:-1, 1:-1] = image
    # Shift by one into the zero border, and clip, so that samples outside stay black.
    xi = np.clip(x0 + 1, 0, width)
    yi = np.clip(y0 + 1, 0, height)
    outside = (src_x < -1) | (src_x > width) | (src_y < -1) | (src_y > height)
    top = padded[yi, xi] * (1 - fx) + padded[yi, xi + 1] * fx
    bottom = padded[yi + 1, xi] * (1 - fx) + padded[yi + 1, xi + 1] * fx
    result = top * (1 - fy) + bottom * fy
    result[outside] = 0
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)

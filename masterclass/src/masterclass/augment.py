"""Data augmentation: rotated and mirrored copies of events, kept as transforms.

An augmented copy stores only its angle and mirror flag. The pixels are
rendered when needed: one image at a time with NumPy for :meth:`Event.show_image`,
and whole batches inside TensorFlow while training. A class-sized augmentation
(factors of 60 for the leptons) therefore costs a few kilobytes, not gigabytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from masterclass.events import CATEGORIES, Event, check_eventlist
from masterclass.messages import StudentError
from masterclass.results import record
from masterclass.runtime import rng

MAX_FACTOR = 200
"""The largest factor a pair may ask for; beyond it training takes far too long."""

IMAGE_SIZE = 200


def augment_events(eventlist: Sequence[Event], factor: int | Sequence[int]) -> list[Event]:
    """Multiply the events by rotated and mirrored copies, then shuffle them.

    Every event becomes *factor* copies of itself, each turned by a random angle;
    half of the copies are also mirrored. Turning and mirroring does not change
    what kind of decay an event shows, so the network gets more examples to
    learn from. Rare categories can get larger factors than the common ``q``.

    Parameters
    ----------
    eventlist : list of Event
        The events to copy.
    factor : int or list of int
        One whole number for every category, a list of four ``[q, e, m, t]``,
        or a list of three ``[e, m, t]`` for the leptons (``q`` then stays 1).

    Returns
    -------
    list of Event
        The copies, in random order.

    Examples
    --------
    >>> eventliste_tv_vermehrt = augment_events(eventliste_tv, [3, 60, 60, 60])  # doctest: +SKIP
    """
    events = check_eventlist(eventlist)
    factors = parse_factors(factor)
    generator = rng()
    copies: list[Event] = []
    for event in events:
        count = factors[event.category]
        angles = generator.uniform(0.0, 360.0, size=count)
        first_mirrored = generator.integers(0, 2)
        for i in range(count):
            mirror = (i + first_mirrored) % 2 == 1
            copies.append(Event._derived(event, angle=float(angles[i]), mirror=bool(mirror)))
    order = generator.permutation(len(copies))
    record(augmentation_factors=factors)
    return [copies[i] for i in order]


def parse_factors(factor: object) -> dict[str, int]:
    """Return the factor per category, or raise a StudentError that shows what to type."""
    if isinstance(factor, list | tuple):
        values = list(factor)
        if len(values) == 4:
            pass
        elif len(values) == 3:
            values = [1, *values]
        else:
            raise StudentError("factor_shape", value=factor)
    elif isinstance(factor, int | np.integer) and not isinstance(factor, bool):
        values = [factor] * 4
    else:
        raise StudentError("factor_shape", value=factor)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise StudentError("factor_value", value=value)
        if value > MAX_FACTOR:
            raise StudentError("factor_too_large", value=value, maximum=MAX_FACTOR)
    return {category: int(value) for category, value in zip(CATEGORIES, values, strict=True)}


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
    """Render one rotated (and maybe mirrored) copy of *image* with NumPy.

    Bilinear interpolation, black outside the picture; the same geometry as
    the batched TensorFlow path used for training.
    """
    a0, a1, a2, b0, b1, b2, _, _ = inverse_transforms(np.array([angle]), np.array([mirror]))[0]
    height, width = image.shape[:2]
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

"""Data augmentation: rotated and mirrored copies of events, kept as transforms.

An augmented copy stores only its angle and mirror flag. The pixels are rendered
when needed (:mod:`masterclass.toolkit.render`): one image at a time with NumPy for
:meth:`Event.show_image`, and whole batches inside TensorFlow while training. A
class-sized augmentation (factors of 60 for the leptons) therefore costs a few
kilobytes, not gigabytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from masterclass.messages import StudentError
from masterclass.names import CATEGORIES
from masterclass.toolkit.events import Event, check_eventlist
from masterclass.toolkit.results import record
from masterclass.toolkit.runtime import rng

MAX_FACTOR = 200
"""The largest factor a pair may ask for; beyond it training takes far too long."""


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
    >>> from masterclass import *
    >>> events = load_events()
    >>> events_augmented = augment_events(events, [3, 60, 60, 60])
    >>> len(events_augmented) == 3 * 539 + 60 * (23 + 32 + 28)
    True
    >>> copy = events_augmented[0]
    >>> copy.is_transformed, copy.origin.is_transformed
    (True, False)
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
            copies.append(event.transformed(angles[i], mirror))
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

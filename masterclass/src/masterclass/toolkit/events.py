"""Events: one OPAL event display with its category, and the functions that load and sort them.

Each original image is held once, as ``uint8``, as a view into the memory-mapped
event store. Augmented copies keep only a rotation angle and a mirror flag and
render their pixels when someone looks at them (:mod:`masterclass.toolkit.render`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from masterclass.data import DataError, open_store
from masterclass.messages import StudentError
from masterclass.names import CATEGORIES
from masterclass.toolkit.display import check_count, show_events
from masterclass.toolkit.render import render
from masterclass.toolkit.results import record
from masterclass.toolkit.runtime import rng

#: How many events the last :func:`load_events` gave. A split of all of them is the
#: pair's choice of ``fraction_first_block``, which is recorded for the class board.
_loaded_count: int | None = None


class Event:
    """One event display: the image, what kind of decay it shows, and a prediction.

    Attributes
    ----------
    filename : str
        The file the display came from, for example ``"z5293_10847.png"``.
    image : numpy.ndarray
        The display as a 200×200×3 array of ``uint8`` colour values.
    category : str
        ``"q"`` (quarks), ``"e"`` (electrons), ``"m"`` (muons) or ``"t"`` (taus).
        For a predicted event, this is the network's guess.
    probabilities : dict or None
        For a predicted event, the network's probability per category; otherwise None.

    Examples
    --------
    >>> from masterclass import *
    >>> events = load_events()
    >>> events[53]
    Event('z5293_14612.png', category='m')
    >>> events[53].image.shape
    (200, 200, 3)
    >>> events[53].show_image(show_category=True)
    """

    __slots__ = ("_angle", "_mirror", "_origin", "_pixels", "category", "filename", "probabilities")

    def __init__(
        self,
        filename: str,
        image: np.ndarray,
        category: str,
        probabilities: dict[str, float] | None = None,
    ) -> None:
        check_category(category)
        self.filename = filename
        self.category = category
        self.probabilities = probabilities
        self._pixels = image
        self._origin: Event = self
        self._angle = 0.0
        self._mirror = False

    def _derived(
        self,
        *,
        angle: float | None = None,
        mirror: bool | None = None,
        category: str | None = None,
        probabilities: dict[str, float] | None = None,
    ) -> Event:
        """Return a lightweight copy of this event that shares its original pixels."""
        event = Event.__new__(Event)
        event.filename = self.filename
        event.category = self.category if category is None else category
        event.probabilities = probabilities
        event._origin = self._origin
        event._pixels = None
        event._angle = self._angle if angle is None else angle
        event._mirror = self._mirror if mirror is None else mirror
        return event

    def transformed(self, angle: float, mirror: bool) -> Event:
        """Return a copy turned by *angle* degrees (and mirrored first if *mirror*).

        The copy holds no pixels of its own: it renders them from its :attr:`origin`.
        """
        return self._derived(angle=float(angle), mirror=bool(mirror))

    def with_prediction(self, category: str, probabilities: dict[str, float]) -> Event:
        """Return a copy that carries a network's guess *category* and its *probabilities*."""
        return self._derived(category=check_category(category), probabilities=probabilities)

    @property
    def origin(self) -> Event:
        """The original event whose pixels this one shares (the event itself for an original)."""
        return self._origin

    @property
    def angle(self) -> float:
        """The rotation of an augmented copy in degrees (0 for an original)."""
        return self._angle

    @property
    def mirrored(self) -> bool:
        """True for a copy mirrored left–right before its rotation."""
        return self._mirror

    @property
    def image(self) -> np.ndarray:
        """The 200×200×3 ``uint8`` image, rendered on demand for augmented copies."""
        if self._pixels is not None:
            return self._pixels
        origin = self._origin._pixels
        if not self.is_transformed:
            return origin
        return render(origin, self._angle, self._mirror)

    @property
    def is_transformed(self) -> bool:
        """True for an augmented copy (rotated and/or mirrored)."""
        return self._angle != 0.0 or self._mirror

    def __repr__(self) -> str:
        extra = ""
        if self.is_transformed:
            extra = f", rotated={self._angle:.0f}°" + (", mirrored" if self._mirror else "")
        if self.probabilities is not None:
            extra += f", probability={self.probabilities[self.category]:.2f}"
        return f"Event({self.filename!r}, category={self.category!r}{extra})"

    def show_image(self, show_category: bool = False, show_probability: bool = False) -> None:
        """Draw the event display.

        Parameters
        ----------
        show_category : bool
            Write the category (or the predicted category) above the picture.
        show_probability : bool
            For a predicted event, also write the network's probabilities.
        """
        show_events([self], show_category=show_category, show_probability=show_probability)


def check_category(category: object) -> str:
    """Return *category* if it is one of ``q e m t``; otherwise raise a StudentError."""
    if not isinstance(category, str) or category not in CATEGORIES:
        raise StudentError("category", value=category)
    return category


def check_eventlist(eventlist: object, name: str = "eventlist") -> list[Event]:
    """Return *eventlist* as a list of events, or raise a StudentError that says what is wrong."""
    if isinstance(eventlist, Event):
        raise StudentError("not_a_list", name=name, kind="Event")
    if not isinstance(eventlist, Iterable) or isinstance(eventlist, str | bytes | dict):
        raise StudentError("not_a_list", name=name, kind=type(eventlist).__name__)
    events = list(eventlist)
    if not events:
        raise StudentError("empty_list", name=name)
    for item in events:
        if not isinstance(item, Event):
            raise StudentError("not_a_list", name=name, kind=type(item).__name__)
    return events


def load_events() -> list[Event]:
    """Load the 622 real OPAL event displays.

    Returns
    -------
    list of Event
        Every event with its image and its category, in the order of the store.

    Examples
    --------
    >>> from masterclass import *
    >>> events = load_events()
    >>> len(events)
    622
    >>> events[0]
    Event('e5293_10479.png', category='e')
    """
    global _loaded_count
    try:
        store = open_store()
    except DataError as error:
        raise StudentError("data_missing", detail=str(error)) from None
    images = store.images
    events = [
        Event(filename, images[index], category)
        for index, (filename, category) in enumerate(
            zip(store.filenames, store.categories, strict=True)
        )
    ]
    _loaded_count = len(events)
    return events


def split_events_random(
    eventlist: Sequence[Event], fraction_first_block: float
) -> tuple[list[Event], list[Event]]:
    """Split a list of events at random into two lists.

    Parameters
    ----------
    eventlist : list of Event
        The events to split.
    fraction_first_block : float
        The share of events in the first list, a number between 0 and 1;
        0.3 puts 30 % of the events into the first list.

    Returns
    -------
    tuple of two lists
        ``(first, second)``; together they hold every event exactly once.

    Examples
    --------
    >>> from masterclass import *
    >>> events = load_events()
    >>> events_tv, events_test = split_events_random(events, fraction_first_block=0.3)
    >>> len(events_tv), len(events_test)
    (187, 435)
    """
    events = check_eventlist(eventlist)
    fraction = check_fraction(fraction_first_block)
    count_first = round(fraction * len(events))
    if count_first == 0 or count_first == len(events):
        raise StudentError("split_too_small", value=fraction_first_block, count=len(events))
    order = rng().permutation(len(events))
    first = [events[i] for i in order[:count_first]]
    second = [events[i] for i in order[count_first:]]
    if len(events) == _loaded_count and not any(
        event.is_transformed or event.probabilities is not None for event in events
    ):
        record(fraction_first_block=fraction)
    return first, second


def check_fraction(value: object) -> float:
    """Return *value* as a float strictly between 0 and 1, or raise a StudentError."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise StudentError("fraction_type", value=value)
    if not 0 < float(value) < 1:
        raise StudentError("fraction_range", value=value)
    return float(value)


def filter_by_category(eventlist: Sequence[Event], category: str) -> list[Event]:
    """Return only the events of one category.

    Parameters
    ----------
    eventlist : list of Event
        The events to look through.
    category : str
        ``"q"``, ``"e"``, ``"m"`` or ``"t"``.

    Examples
    --------
    >>> from masterclass import *
    >>> muons = filter_by_category(load_events(), "m")
    >>> len(muons), muons[0].category
    (32, 'm')
    """
    check_category(category)
    return [event for event in check_eventlist(eventlist) if event.category == category]


def show_only_one_category(eventlist: Sequence[Event], category: str, count: int = 5) -> None:
    """Draw the first *count* events of one category.

    Parameters
    ----------
    eventlist : list of Event
        The events to look through.
    category : str
        ``"q"``, ``"e"``, ``"m"`` or ``"t"``.
    count : int
        How many displays to draw.

    Examples
    --------
    >>> from masterclass import *
    >>> show_only_one_category(load_events(), "m", count=3)
    """
    check_count(count)
    chosen = filter_by_category(eventlist, category)[:count]
    if not chosen:
        raise StudentError("empty_list", name=f"filter_by_category(..., {category!r})")
    show_events(chosen, show_category=True)


def count_by_category(eventlist: Iterable[Event]) -> dict[str, int]:
    """Return how many events of each category the list holds."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for event in eventlist:
        counts[event.category] += 1
    return counts

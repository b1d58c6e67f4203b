"""Human vs machine: the sorting game behind the notebook (widgets plus plain logic).

The logic lives in :class:`SortGame` methods that work without a browser:
``start()`` and ``answer(category)`` are exactly what the buttons call, so a
test can play the game by calling them, or by ``button.click()``.
Nothing here prints prose: the notebook words the results in its own language.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable, Sequence

import numpy as np

CATEGORIES = ("q", "e", "m", "t")
DEFAULT_COUNTS = {"q": 8, "e": 4, "m": 4, "t": 4}


def pick_events(events: Sequence, counts: dict[str, int] | None = None, seed=None) -> list:
    """A shuffled sample with a fixed number of events per category.

    The natural mix is nearly 9 in 10 ``q``; a game on that mix would be won
    by always pressing ``q``, so the sample over-represents the leptons.
    """
    counts = DEFAULT_COUNTS if counts is None else counts
    rng = random.Random(seed)
    chosen = []
    for category, count in counts.items():
        pool = [event for event in events if event.category == category]
        if len(pool) < count:
            raise ValueError(f"only {len(pool)} events of category {category!r}, {count} wanted")
        chosen.extend(rng.sample(pool, count))
    rng.shuffle(chosen)
    return chosen


def without(events: Sequence, removed: Sequence) -> list:
    """The events that are not in ``removed`` (matched by file name)."""
    names = {event.filename for event in removed}
    return [event for event in events if event.filename not in names]


def png_bytes(image) -> bytes:
    """Encode an event image (200×200×3, uint8 or floats in 0..1) as PNG."""
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8:
        scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
        array = np.clip(array * scale, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


class SortGame:
    """Sort events by eye with one button per category, timed from start to last answer."""

    def __init__(self, events: Sequence, clock: Callable[[], float] = time.monotonic):
        import ipywidgets as widgets

        if not events:
            raise ValueError("the game needs at least one event")
        self.events = list(events)
        self.guesses: list[str] = []
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._clock = clock

        self.image = widgets.Image(format="png", width=320, height=320)
        self.status = widgets.Label(value=f"0 / {len(self.events)}")
        self.start_button = widgets.Button(description="▶ Start", button_style="success")
        self.start_button.on_click(lambda _button: self.start())
        self.buttons = {}
        for category in CATEGORIES:
            button = widgets.Button(description=category, disabled=True, layout={"width": "70px"})
            button.on_click(lambda _button, c=category: self.answer(c))
            self.buttons[category] = button
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.start_button, self.status]),
                self.image,
                widgets.HBox(list(self.buttons.values())),
            ]
        )

    def show(self) -> None:
        """Display the game in the notebook."""
        from IPython.display import display

        display(self.widget)

    def start(self) -> None:
        """Start (or restart) the round: clear the answers, show the first event, start timing."""
        self.guesses = []
        self.finished_at = None
        self.started_at = self._clock()
        for button in self.buttons.values():
            button.disabled = False
        self.start_button.disabled = True
        self._show_current()

    def answer(self, category: str) -> bool:
        """Record the answer for the current event; False if the round is not running."""
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {CATEGORIES}, not {category!r}")
        if self.started_at is None or self.finished:
            return False
        self.guesses.append(category)
        if len(self.guesses) == len(self.events):
            self.finished_at = self._clock()
            for button in self.buttons.values():
                button.disabled = True
            self.start_button.disabled = False
            self.start_button.description = "↻ Start"
        self._show_current()
        return True

    def _show_current(self) -> None:
        done = len(self.guesses)
        total = len(self.events)
        if self.finished:
            self.status.value = f"✔ {done} / {total} · {self.seconds:.1f} s"
        else:
            self.status.value = f"{done + 1} / {total}"
            self.image.value = png_bytes(self.events[done].image)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def seconds(self) -> float:
        """Time from start to the last answer (so far, while the round is running)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished else self._clock()
        return end - self.started_at

    @property
    def correct(self) -> int:
        """How many of the pair's answers are right."""
        return sum(g == e.category for g, e in zip(self.guesses, self.events, strict=False))


def report_round(game: SortGame, machine_right: int, machine_seconds: float) -> None:
    """Send a finished round to the class results board (in the background, silently).

    The board tallies the class's rounds (docs/board.md); outside the hub nothing is sent.
    The same round sent again (the cell re-run) replaces itself on the board.
    """
    if not game.finished:
        return
    from masterclass.board.client import post_round

    round_id = f"{id(game):x}-{game.started_at:.3f}"
    post_round(
        round_id, len(game.events), game.correct, game.seconds, machine_right, machine_seconds
    )


def count_correct(events: Sequence, predicted: Sequence) -> int:
    """How many predicted categories match the true ones, position by position."""
    return sum(p.category == e.category for e, p in zip(events, predicted, strict=True))


def disagreements(game: SortGame, predicted: Sequence) -> list[tuple]:
    """``(event, human, network)`` for every event where the pair and the network differ."""
    return [
        (event, guess, network.category)
        for event, guess, network in zip(game.events, game.guesses, predicted, strict=False)
        if guess != network.category
    ]


def show_disagreements(game: SortGame, predicted: Sequence, labels: Sequence[str], count=8) -> int:
    """Draw up to ``count`` events where pair and network differ; return how many differ.

    ``labels`` are the notebook's words for (true, you, network).
    """
    import matplotlib.pyplot as plt

    rows = disagreements(game, predicted)
    shown = rows[:count]
    if shown:
        figure, axes = plt.subplots(1, len(shown), figsize=(3 * len(shown), 3.6), squeeze=False)
        for axis, (event, guess, network) in zip(axes[0], shown, strict=True):
            axis.imshow(np.asarray(event.image))
            axis.set_axis_off()
            axis.set_title(
                f"{labels[0]}: {event.category}\n{labels[1]}: {guess}   {labels[2]}: {network}",
                fontsize=10,
            )
        figure.tight_layout()
        plt.show()
    return len(rows)

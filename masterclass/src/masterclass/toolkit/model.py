"""The neural network: build the CNN layer by layer, train it on streamed batches, predict.

Training never holds the training set as floats, nor a copy of its images: every
batch gathers its originals (``uint8`` views into the memory-mapped store) when it
is built and is rendered (with Pillow) from them plus each copy's rotation and
mirror transform, so memory stays flat however large the augmentation.

Where the CPU computes ``bfloat16`` natively (AVX512_BF16 or AMX), the convolution
blocks compute in it (Keras' ``mixed_bfloat16``: the weights stay ``float32``, the
output layer computes in ``float32``); that takes a third less CPU time and half the
activations' memory. Elsewhere the whole network computes in ``float32``.
"""

from __future__ import annotations

import contextlib
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from masterclass.messages import StudentError, text
from masterclass.names import CATEGORIES
from masterclass.toolkit import replay
from masterclass.toolkit.events import Event, check_eventlist
from masterclass.toolkit.plots import plot_learning_curve
from masterclass.toolkit.render import IMAGE_SIZE, inverse_transforms, render_batch
from masterclass.toolkit.results import record
from masterclass.toolkit.runtime import configure_tensorflow_threads, current_seed, rng

# Hide TensorFlow's start-up chatter about CPU instructions; pairs cannot act on it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null for a moment.

    TensorFlow's native libraries log before their log level is read, straight to
    fd 2, which Jupyter shows in the notebook; Python exceptions are unaffected.
    """
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _native_stderr_silenced():
    import keras
    import tensorflow as tf

configure_tensorflow_threads()
if current_seed() is not None:
    keras.utils.set_random_seed(current_seed())

BATCH_SIZE = 16
"""Images per training step. Measured on the solution path with ``bfloat16`` and batches
gathered when built: 24 peaks at 1.02 GB of resident memory, 16 at 0.94 GB with no more CPU
time per epoch (14.6 against 15.1 s; docs/toolkit.md)."""


def _native_bfloat16() -> bool:
    """True where the CPU computes ``bfloat16`` natively; ``MASTERCLASS_BFLOAT16=0|1`` decides."""
    setting = os.environ.get("MASTERCLASS_BFLOAT16", "")
    if setting in ("0", "1"):
        return setting == "1"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


COMPUTE_DTYPE = "bfloat16" if _native_bfloat16() else "float32"
"""What the convolution blocks compute in (emulated ``bfloat16`` would be slower than
``float32``, so it is used only where the CPU has it)."""

LEARNING_RATE = 1e-3
MAX_EPOCHS = 100

_ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "selu", "softplus", "linear", "gelu", "swish")

_MONOTONIC = frozenset({"relu", "sigmoid", "tanh", "elu", "selu", "softplus", "linear"})
"""Activations that never decrease: for them, taking the maximum of a patch first and adding
the bias and applying the activation afterwards gives the same values and the same gradients."""


class _PooledConv2D(keras.layers.Conv2D):
    """A convolution whose bias and activation are applied after the pooling that follows it.

    Summarised, saved and counted exactly like ``Conv2D`` (same name, weights and output
    shape); only its ``call`` leaves the bias and activation to :class:`_ActivatedMaxPooling2D`.
    Both are cheap per value, and after a 3×3 pooling there are nine times fewer values: the
    first block's ReLU gradient alone was 7 % of a training step's op time (docs/toolkit.md).
    """

    def call(self, inputs):
        return self.convolution_op(inputs, self.kernel)


_PooledConv2D.__name__ = _PooledConv2D.__qualname__ = "Conv2D"


class _ActivatedMaxPooling2D(keras.layers.MaxPooling2D):
    """Max pooling that then adds the preceding :class:`_PooledConv2D`'s bias and activation."""

    def __init__(self, pool_size, convolution: _PooledConv2D, **options):
        super().__init__(pool_size, **options)
        # A weak reference: Keras would otherwise track the convolution (and its weights)
        # as part of this layer.
        self._convolution = weakref.ref(convolution)

    def call(self, inputs):
        convolution = self._convolution()
        outputs = super().call(inputs)
        if convolution.use_bias:
            outputs = outputs + keras.ops.cast(convolution.bias, outputs.dtype)
        return convolution.activation(outputs)


_ActivatedMaxPooling2D.__name__ = _ActivatedMaxPooling2D.__qualname__ = "MaxPooling2D"


@dataclass
class _TrainingRun:
    """The per-epoch figures of one call to :meth:`MLModel.train`."""

    accuracy: list[float]
    loss: list[float]
    val_accuracy: list[float]
    val_loss: list[float]


class MLModel:
    """A convolutional neural network that sorts event displays into q, e, m and t.

    Examples
    --------
    The worksheet's path; only the training (about a minute) is not run here.

    >>> from masterclass import *
    >>> events_tv, events_test = split_events_random(load_events(), fraction_first_block=0.3)
    >>> events_augmented = augment_events(events_tv, [3, 60, 60, 60])
    >>> events_training, events_validation = split_events_random(events_augmented, 0.8)
    >>> model = MLModel()
    >>> model.load_structure_default()
    >>> model.count_parameters()
    204100
    >>> model.load_training_eventlist(events_training)
    >>> model.load_validation_eventlist(events_validation)
    >>> model.train(count_epochs=3)  # doctest: +SKIP
    >>> events_predicted = model.predict(events_test)  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._layers: list[tuple[str, dict]] = []
        self._network: keras.Model | None = None
        self._training: list[Event] | None = None
        self._validation: list[Event] | None = None
        self._runs: list[_TrainingRun] = []

    # -- structure ---------------------------------------------------------

    def load_structure_default(self) -> None:
        """Load the masterclass network: three convolution and pooling blocks, two dense layers.

        Conv(32, 3×3) → MaxPool(3×3) → Conv(64, 3×3) → MaxPool(3×3) → Conv(64, 3×3)
        → MaxPool(3×3) → Flatten → Dense(64) → Dense(4): 204,100 trainable parameters.
        """
        self.delete_structure()
        self.new_layer_convolution(32)
        self.new_layer_pooling()
        self.new_layer_convolution(64)
        self.new_layer_pooling()
        self.new_layer_convolution(64)
        self.new_layer_pooling()
        self.new_layer_flatten()
        self.new_layer_dense(64)
        self.new_layer_final()

    def new_layer_convolution(
        self,
        count_filter: int = 32,
        size_filter: tuple[int, int] = (3, 3),
        activation: str = "relu",
    ) -> None:
        """Add a convolution layer: *count_filter* small filters slide over the image."""
        self._check_positive("count_filter", count_filter)
        size = self._check_size("size_filter", size_filter)
        self._check_activation(activation)
        self._add(
            "convolution", count_filter=int(count_filter), size_filter=size, activation=activation
        )

    def new_layer_pooling(self, size_filter: tuple[int, int] = (3, 3)) -> None:
        """Add a pooling layer: keep only the largest value of each small patch."""
        self._add("pooling", size_filter=self._check_size("size_filter", size_filter))

    def new_layer_flatten(self) -> None:
        """Add a flatten layer: line up all values in one long row for the dense layers."""
        self._add("flatten")

    def new_layer_dense(self, count_neurons: int = 64, activation: str = "relu") -> None:
        """Add a dense layer: *count_neurons* neurons, each connected to every value before."""
        self._check_positive("count_neurons", count_neurons)
        self._check_activation(activation)
        self._add("dense", count_neurons=int(count_neurons), activation=activation)

    def new_layer_final(self) -> None:
        """Add the output layer: four neurons, one probability per category q, e, m, t."""
        self._add("final")

    def delete_structure(self) -> None:
        """Remove all layers and forget what was trained."""
        self._layers = []
        self._reset_network()

    def show_structure(self) -> None:
        """Print the layers with their output sizes and the number of trained parameters."""
        self._build().summary()

    def count_parameters(self) -> int:
        """Return the number of trainable parameters of the current structure."""
        network = self._build()
        return int(sum(int(np.prod(weight.shape)) for weight in network.trainable_weights))

    def _add(self, kind: str, **options) -> None:
        self._layers.append((kind, options))
        self._reset_network()

    def _reset_network(self) -> None:
        self._network = None
        self._runs = []

    def _build(self) -> keras.Model:
        if self._network is not None:
            return self._network
        if not self._layers:
            raise StudentError("no_structure")
        kinds = [kind for kind, _ in self._layers]
        if kinds[-1] != "final":
            raise StudentError(
                "structure_incomplete",
                reason=text("model.last_layer_final"),
            )
        if "final" in kinds[:-1]:
            raise StudentError(
                "structure_incomplete",
                reason=text("model.final_only_once"),
            )
        layers: list[keras.layers.Layer] = [keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3))]
        # The convolution blocks carry nearly all of the work and memory; dense layers stay
        # float32, so the probabilities and the loss are computed as before.
        policy = "mixed_bfloat16" if COMPUTE_DTYPE == "bfloat16" else None
        flat = False
        deferred: _PooledConv2D | None = None
        for position, (kind, options) in enumerate(self._layers):
            if kind in ("convolution", "pooling") and flat:
                raise StudentError(
                    "structure_incomplete",
                    reason=text("model.no_convolution_after_flatten"),
                )
            if kind == "convolution":
                following = (
                    self._layers[position + 1][0] if position + 1 < len(self._layers) else ""
                )
                pooled = following == "pooling" and options["activation"] in _MONOTONIC
                convolution_class = _PooledConv2D if pooled else keras.layers.Conv2D
                layers.append(
                    convolution_class(
                        options["count_filter"],
                        options["size_filter"],
                        activation=options["activation"],
                        dtype=policy,
                    )
                )
                deferred = layers[-1] if pooled else None
            elif kind == "pooling":
                if deferred is not None:
                    layers.append(
                        _ActivatedMaxPooling2D(options["size_filter"], deferred, dtype=policy)
                    )
                    deferred = None
                else:
                    layers.append(keras.layers.MaxPooling2D(options["size_filter"], dtype=policy))
            elif kind == "flatten":
                layers.append(keras.layers.Flatten(dtype=policy))
                flat = True
            elif kind == "dense":
                if not flat:
                    layers.append(keras.layers.Flatten())
                    flat = True
                layers.append(
                    keras.layers.Dense(options["count_neurons"], activation=options["activation"])
                )
            elif kind == "final":
                if not flat:
                    layers.append(keras.layers.Flatten())
                    flat = True
                layers.append(keras.layers.Dense(len(CATEGORIES), activation="softmax"))
        try:
            network = keras.Sequential(layers, name="masterclass_cnn")
        except ValueError as error:
            raise StudentError(
                "structure_incomplete",
                reason=text("model.image_too_small"),
            ) from error
        network.compile(
            optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        self._network = network
        return network

    # -- data --------------------------------------------------------------

    def load_training_eventlist(self, eventlist: Sequence[Event]) -> None:
        """Give the model the events it learns from."""
        self._training = check_eventlist(eventlist, "eventlist_training")

    def load_validation_eventlist(self, eventlist: Sequence[Event]) -> None:
        """Give the model the events it is checked on after each epoch (never learned from)."""
        self._validation = check_eventlist(eventlist, "eventlist_validation")

    # -- training ----------------------------------------------------------

    def train(self, count_epochs: int = 3, show_time: bool = True) -> None:
        """Train the network for *count_epochs* passes over the training events.

        Calling it again continues from where the last call stopped; the
        learning curve then shows all calls together.

        Parameters
        ----------
        count_epochs : int
            How many times the network sees every training event.
        show_time : bool
            Print how long each epoch and the whole training took.
        """
        if isinstance(count_epochs, bool) or not isinstance(count_epochs, int | np.integer):
            raise StudentError("epochs", value=count_epochs)
        if count_epochs < 1:
            raise StudentError("epochs", value=count_epochs)
        if count_epochs > MAX_EPOCHS:
            raise StudentError("epochs_too_large", value=count_epochs, maximum=MAX_EPOCHS)
        network = self._build()
        if self._training is None:
            raise StudentError("no_training_data")
        seed = int(rng().integers(0, 2**31 - 1))
        done = sum(len(run.accuracy) for run in self._runs)
        # Autograde replays the training the pair's server recorded for the same inputs.
        key = replay.training_key(
            self._layers,
            self._training,
            self._validation,
            network.get_weights(),
            seed=seed,
            done=done,
            epochs=int(count_epochs),
            batch=BATCH_SIZE,
            rate=LEARNING_RATE,
            precision=COMPUTE_DTYPE,
            graph="pooled-activation",
            keras=keras.__version__,
        )
        recorded = replay.load(key)
        started = time.perf_counter()
        if recorded is not None:
            weights, saved = recorded
            network.set_weights(weights)
            figures, seconds = saved["history"], saved["seconds"]
        else:
            training = _stream(self._training, shuffle=True, seed=seed)
            validation = _stream(self._validation, shuffle=False) if self._validation else None
            try:
                history = network.fit(
                    training,
                    validation_data=validation,
                    initial_epoch=done,
                    epochs=done + int(count_epochs),
                    shuffle=False,  # the stream already reshuffles every epoch
                    verbose=1 if show_time else 0,
                )
            except tf.errors.ResourceExhaustedError:
                raise StudentError("out_of_memory") from None
            figures = history.history
            seconds = time.perf_counter() - started
            replay.save(key, network.get_weights(), {"history": figures, "seconds": seconds})
        self._runs.append(
            _TrainingRun(
                accuracy=figures["accuracy"],
                loss=figures["loss"],
                val_accuracy=figures.get("val_accuracy", []),
                val_loss=figures.get("val_loss", []),
            )
        )
        record(
            epochs=done + int(count_epochs),
            training_images=len(self._training),
            validation_accuracy=(self._runs[-1].val_accuracy or [None])[-1],
            # A new training makes the last efficiency table stale; show_efficiency records
            # the new one (the results board corrects with it, docs/board.md).
            validation_confusion=None,
        )
        if show_time:
            print(text("model.training_done", epochs=count_epochs, seconds=seconds))

    def show_learning_curve(self, show_accuracy: bool = True, show_loss: bool = False) -> None:
        """Plot accuracy (and/or loss) per epoch for training and validation, all runs together."""
        if not self._runs:
            raise StudentError("no_learning_curve")
        plot_learning_curve(self._runs, show_accuracy=show_accuracy, show_loss=show_loss)

    @property
    def history(self) -> dict[str, list[float]]:
        """The per-epoch figures of all training runs so far, joined together."""
        joined: dict[str, list[float]] = {
            "accuracy": [],
            "loss": [],
            "val_accuracy": [],
            "val_loss": [],
        }
        for run in self._runs:
            for key in joined:
                joined[key].extend(getattr(run, key))
        return joined

    # -- prediction --------------------------------------------------------

    def predict(self, eventlist: Sequence[Event]) -> list[Event]:
        """Let the trained network sort events.

        Returns
        -------
        list of Event
            New events in the same order, each with the predicted ``category``
            and the ``probabilities`` of all four categories.
        """
        events = check_eventlist(eventlist)
        if self._network is None or not self._runs:
            raise StudentError("not_trained")
        probabilities = self._network.predict(_stream(events, shuffle=False), verbose=0)
        predicted = []
        for event, row in zip(events, probabilities, strict=True):
            chances = {category: float(p) for category, p in zip(CATEGORIES, row, strict=True)}
            best = CATEGORIES[int(np.argmax(row))]
            predicted.append(event.with_prediction(best, chances))
        return predicted

    # -- checks ------------------------------------------------------------

    @staticmethod
    def _check_positive(name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise StudentError("positive_int", name=name, value=value)

    @staticmethod
    def _check_size(name: str, value: object) -> tuple[int, int]:
        if isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1:
            return (int(value), int(value))
        if (
            isinstance(value, tuple | list)
            and len(value) == 2
            and all(
                isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1
                for v in value
            )
        ):
            return (int(value[0]), int(value[1]))
        raise StudentError("layer_value", name=name, expected="(3, 3)", value=value)

    @staticmethod
    def _check_activation(value: object) -> None:
        if value not in _ACTIVATIONS:
            raise StudentError("layer_value", name="activation", expected="'relu'", value=value)


def _stream(events: list[Event], *, shuffle: bool, seed: int | None = None) -> tf.data.Dataset:
    """Return a dataset of rendered ``float32`` batches (and labels) for *events*.

    Each batch gathers its originals (``uint8``, views into the store) when it is built
    and renders its copies with Pillow (:func:`render_batch`); TensorFlow only scales the
    ``uint8`` batch to ``[0, 1]``. No array of all the images is
    made: as a constant in the dataset's graph, tf.data copied it several times (60 MB
    each for the solution path's training originals).
    """
    origins: dict[int, int] = {}
    originals: list[np.ndarray] = []
    index = np.empty(len(events), dtype=np.int32)
    for position, event in enumerate(events):
        origin = event.origin
        slot = origins.get(id(origin))
        if slot is None:
            slot = origins[id(origin)] = len(originals)
            originals.append(origin.image)
        index[position] = slot
    angles = np.array([event.angle for event in events], dtype=np.float64)
    mirrors = np.array([event.mirrored for event in events], dtype=bool)
    transforms = inverse_transforms(angles, mirrors)
    labels = np.array([CATEGORIES.index(event.category) for event in events], dtype=np.int32)

    def render(rows: np.ndarray, batch_transforms: np.ndarray) -> np.ndarray:
        return render_batch([originals[row] for row in rows], batch_transforms)

    dataset = tf.data.Dataset.from_tensor_slices((index, transforms, labels))
    if shuffle:
        seed = int(rng().integers(0, 2**31 - 1)) if seed is None else seed
        dataset = dataset.shuffle(len(events), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(BATCH_SIZE)

    @tf.autograph.experimental.do_not_convert  # plain tensor code, nothing to convert
    def rendered(batch_index, batch_transforms, batch_labels):
        images = tf.numpy_function(
            render, [batch_index, batch_transforms], tf.uint8, stateful=False
        )
        images = tf.ensure_shape(images, [None, IMAGE_SIZE, IMAGE_SIZE, 3])
        return tf.cast(images, tf.float32) / 255.0, batch_labels

    return dataset.map(rendered, num_parallel_calls=1).prefetch(2)

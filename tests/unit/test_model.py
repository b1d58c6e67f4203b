"""MLModel: structure, bad input, and real training on the OPAL events (short settings)."""

from __future__ import annotations

import numpy as np
import pytest
from solution_path import run, solution_path

from masterclass import (
    MLModel,
    StudentError,
    calculate_prediction_accuracy,
    load_events,
    messages,
    show_confusion_matrix,
)
from masterclass.toolkit.results import read_results
from masterclass.toolkit.runtime import cpu_quota


@pytest.fixture(autouse=True)
def _german(monkeypatch):
    monkeypatch.delenv("MASTERCLASS_LANG", raising=False)
    monkeypatch.setattr(messages, "_language", None)


@pytest.fixture(scope="module")
def events():
    return load_events()


def test_default_structure_has_204100_parameters(capsys):
    model = MLModel()
    model.load_structure_default()
    assert model.count_parameters() == 204_100
    model.show_structure()
    assert "204,100" in capsys.readouterr().out


def test_structure_built_layer_by_layer_matches_the_default():
    model = MLModel()
    for count in (32, 64, 64):
        model.new_layer_convolution(count_filter=count, size_filter=(3, 3), activation="relu")
        model.new_layer_pooling(size_filter=(3, 3))
    model.new_layer_flatten()
    model.new_layer_dense(count_neurons=64, activation="relu")
    model.new_layer_final()
    assert model.count_parameters() == 204_100


def test_structure_errors():
    model = MLModel()
    with pytest.raises(StudentError, match="keine Struktur"):
        model.show_structure()
    model.new_layer_convolution()
    with pytest.raises(StudentError, match="new_layer_final"):
        model.show_structure()
    model.delete_structure()
    for _ in range(6):
        model.new_layer_convolution(size_filter=(9, 9))
        model.new_layer_pooling(size_filter=(3, 3))
    model.new_layer_final()
    with pytest.raises(StudentError, match="zu klein"):
        model.show_structure()


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.new_layer_convolution(count_filter=0),
        lambda m: m.new_layer_convolution(count_filter=2.5),
        lambda m: m.new_layer_convolution(size_filter=(3,)),
        lambda m: m.new_layer_convolution(activation="magic"),
        lambda m: m.new_layer_pooling(size_filter="3x3"),
        lambda m: m.new_layer_dense(count_neurons=-4),
    ],
)
def test_bad_layer_parameters(call):
    with pytest.raises(StudentError):
        call(MLModel())


@pytest.mark.parametrize("epochs", [0, -1, 2.5, "3", True, None])
def test_count_epochs_must_be_a_positive_integer(events, epochs):
    model = MLModel()
    model.load_structure_default()
    model.load_training_eventlist(events[:4])
    with pytest.raises(StudentError, match="count_epochs"):
        model.train(count_epochs=epochs)


def test_too_many_epochs(events):
    model = MLModel()
    model.load_structure_default()
    with pytest.raises(StudentError, match="zu viel"):
        model.train(count_epochs=1000)


def test_training_without_structure_or_data(events):
    model = MLModel()
    with pytest.raises(StudentError, match="keine Struktur"):
        model.train(count_epochs=1)
    model.load_structure_default()
    with pytest.raises(StudentError, match="keine Trainingsdaten"):
        model.train(count_epochs=1)


def test_predicting_or_plotting_before_training(events):
    model = MLModel()
    model.load_structure_default()
    with pytest.raises(StudentError, match="noch nicht trainiert"):
        model.predict(events[:5])
    with pytest.raises(StudentError, match="keine Lernkurve"):
        model.show_learning_curve()


def test_loading_empty_lists_is_refused():
    model = MLModel()
    with pytest.raises(StudentError, match="ist leer"):
        model.load_training_eventlist([])
    with pytest.raises(StudentError, match="ist leer"):
        model.load_validation_eventlist([])


def test_cpu_quota_reads_cgroup_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cpu_quota(tmp_path) == min(2, len(__import__("os").sched_getaffinity(0)))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    v1 = tmp_path / "cpu"
    v1.mkdir()
    (v1 / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(tmp_path) == 1
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_quota(tmp_path) >= 1


def _small_flow(events, seed: int):
    """A reduced solution path that still trains on real events: small factors, 1 epoch."""
    code = solution_path(seed=seed, factors=(1, 4, 4, 4), load=False, train=False, evaluate=False)
    names = run(code, ev=events)
    model, test = names["m"], names["test"]
    model.train(count_epochs=1, show_time=False)
    return model, test, model.predict(test[:60])


@pytest.mark.slow
def test_same_seed_gives_identical_predictions(events):
    _, _, first = _small_flow(events, seed=11)
    _, _, second = _small_flow(events, seed=11)
    assert [e.category for e in first] == [e.category for e in second]
    probabilities_a = np.array([[e.probabilities[c] for c in "qemt"] for e in first])
    probabilities_b = np.array([[e.probabilities[c] for c in "qemt"] for e in second])
    np.testing.assert_array_equal(probabilities_a, probabilities_b)


@pytest.mark.slow
def test_whole_solution_path_on_the_real_events_with_one_epoch(
    events, capsys, tmp_path, monkeypatch
):
    results_file = tmp_path / "masterclass-results.json"
    monkeypatch.setenv("MASTERCLASS_RESULTS_FILE", str(results_file))
    # The worksheet's path up to the first training (one epoch), on the loaded events.
    names = run(solution_path(epochs=1, load=False, evaluate=False), ev=events)
    model, test = names["m"], names["test"]
    model.train(count_epochs=1, show_time=False)  # continues training
    assert len(model.history["accuracy"]) == 2
    assert len(model.history["val_accuracy"]) == 2
    model.show_learning_curve(show_accuracy=True, show_loss=True)
    predicted = model.predict(test)
    assert len(predicted) == len(test)
    assert [e.filename for e in predicted] == [e.filename for e in test]
    for event in predicted[:20]:
        assert sum(event.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert event.category == max(event.probabilities, key=event.probabilities.get)
    accuracy = calculate_prediction_accuracy(test, predicted)
    assert 0.0 <= accuracy <= 1.0
    show_confusion_matrix(test, predicted)
    assert "Training fertig" in capsys.readouterr().out
    results = read_results(results_file)
    assert results["epochs"] == 2
    assert results["augmentation_factors"] == {"q": 3, "e": 60, "m": 60, "t": 60}
    assert results["test_accuracy"] == pytest.approx(accuracy)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_pooling_before_the_activation_gives_the_same_network(monkeypatch, activation):
    """Blocks that add the bias and activate after pooling equal plain Keras layers.

    Checked in float32, values and gradients, against a Sequential of Keras' own Conv2D
    and MaxPooling2D with the same weights (gelu is not monotonic and keeps the plain order).
    """
    import keras
    import tensorflow as tf

    from masterclass.toolkit import model as model_module

    monkeypatch.setattr(model_module, "COMPUTE_DTYPE", "float32")
    model = MLModel()
    for count in (8, 16):
        model.new_layer_convolution(count_filter=count, activation=activation)
        model.new_layer_pooling()
    model.new_layer_convolution(count_filter=4, activation=activation)  # no pooling after it
    model.new_layer_dense(16)
    model.new_layer_final()
    ours = model._build()
    summary = []
    ours.summary(print_fn=lambda line, **_: summary.append(line))
    assert "Conv2D" in "\n".join(summary) and "MaxPooling2D" in "\n".join(summary)
    assert [type(layer).__name__ for layer in ours.layers] == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "Flatten",
        "Dense",
        "Dense",
    ]
    plain = keras.Sequential(
        [keras.Input(shape=(200, 200, 3))]
        + [
            layer
            for count in (8, 16)
            for layer in (
                keras.layers.Conv2D(count, 3, activation=activation),
                keras.layers.MaxPooling2D(3),
            )
        ]
        + [
            keras.layers.Conv2D(4, 3, activation=activation),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    plain.set_weights(ours.get_weights())
    # Biases away from zero, so that adding them after the pooling is really tested.
    weights = [
        w + 0.05 * np.random.default_rng(n).standard_normal(w.shape).astype(w.dtype)
        for n, w in enumerate(ours.get_weights())
    ]
    ours.set_weights(weights)
    plain.set_weights(weights)
    images = tf.constant(np.random.default_rng(7).random((4, 200, 200, 3), dtype=np.float32))
    labels = tf.constant([0, 1, 2, 3])
    loss = keras.losses.SparseCategoricalCrossentropy()
    results = []
    for network in (ours, plain):
        with tf.GradientTape() as tape:
            outputs = network(images, training=True)
            value = loss(labels, outputs)
        results.append(
            (outputs.numpy(), [g.numpy() for g in tape.gradient(value, network.trainable_weights)])
        )
    (ours_out, ours_grads), (plain_out, plain_grads) = results
    np.testing.assert_allclose(ours_out, plain_out, rtol=1e-5, atol=1e-6)
    assert len(ours_grads) == len(plain_grads) == 10
    for mine, theirs in zip(ours_grads, plain_grads, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)

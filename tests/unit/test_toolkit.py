"""The worksheet API on the real OPAL events: names, results and every bad input a pair may type."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import masterclass
from masterclass import (
    Event,
    Overview,
    StudentError,
    augment_events,
    filter_by_category,
    load_events,
    messages,
    set_language,
    set_random_seeds,
    show_efficiency,
    show_only_one_category,
    split_events_random,
)
from masterclass.toolkit.augment import parse_factors
from masterclass.toolkit.efficiency import Efficiency
from masterclass.toolkit.overview import visible_branching_ratios
from masterclass.toolkit.plots import (
    calculate_prediction_accuracy,
    confusion_matrix,
    recall_per_category,
    show_confusion_matrix,
    show_false_predictions,
)
from masterclass.toolkit.render import inverse_transforms, render, render_batch

WORKSHEET_NAMES = {
    "Event",
    "load_events",
    "Overview",
    "split_events_random",
    "augment_events",
    "MLModel",
    "show_confusion_matrix",
    "calculate_prediction_accuracy",
    "show_false_predictions",
    "filter_by_category",
    "show_only_one_category",
    "set_random_seeds",
    "show_efficiency",
}


@pytest.fixture(autouse=True)
def _german_and_reseeded(monkeypatch):
    """Every test starts in German, with a fixed seed and no leftover language choice."""
    monkeypatch.delenv("MASTERCLASS_LANG", raising=False)
    monkeypatch.setattr(messages, "_language", None)
    set_random_seeds(7)


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return load_events()


def predicted_copy(events: list[Event], categories: list[str]) -> list[Event]:
    """Events as if a network had predicted *categories* with certainty."""
    return [
        e.with_prediction(c, {k: float(k == c) for k in "qemt"})
        for e, c in zip(events, categories, strict=True)
    ]


# -- names and loading ------------------------------------------------------


def test_star_import_exports_every_worksheet_name():
    namespace: dict = {}
    exec("from masterclass import *", namespace)
    assert set(namespace) >= WORKSHEET_NAMES


def test_import_and_load_events_do_not_import_tensorflow():
    code = (
        "import sys, masterclass; from masterclass import load_events, Overview; "
        "load_events(); print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_load_events_gives_the_622_real_events(events):
    assert len(events) == 622
    counts = {c: sum(e.category == c for e in events) for c in "qemt"}
    assert counts == {"q": 539, "e": 23, "m": 32, "t": 28}
    first = events[0]
    assert first.image.shape == (200, 200, 3)
    assert first.image.dtype == np.uint8
    assert first.probabilities is None
    assert first.filename.endswith(".png")


def test_event_images_are_views_of_one_store_not_copies(events):
    bases = {id(e.image.base) for e in events[:50]}
    assert len(bases) == 1


def test_unknown_category_is_refused(events):
    with pytest.raises(StudentError, match="Kategorie 'x' gibt es nicht"):
        filter_by_category(events, "x")
    with pytest.raises(StudentError):
        Event("a.png", events[0].image, "Q")


def test_filter_by_category(events):
    muons = filter_by_category(events, "m")
    assert len(muons) == 32
    assert {e.category for e in muons} == {"m"}


def test_show_functions_draw_without_error(events):
    events[0].show_image(show_category=True)
    show_only_one_category(events, "t", count=2)
    with pytest.raises(StudentError):
        show_only_one_category(events, "t", count=0)


# -- split ------------------------------------------------------------------


def test_split_keeps_every_event_exactly_once(events):
    first, second = split_events_random(events, fraction_first_block=0.3)
    assert len(first) == round(0.3 * 622)
    assert len(first) + len(second) == 622
    assert {id(e) for e in first}.isdisjoint({id(e) for e in second})
    assert {id(e) for e in first} | {id(e) for e in second} == {id(e) for e in events}


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2, 30])
def test_split_fraction_out_of_range(events, fraction):
    with pytest.raises(StudentError, match="zwischen 0 und 1"):
        split_events_random(events, fraction)


@pytest.mark.parametrize("fraction", ["0.3", (0, 3), None, True])
def test_split_fraction_of_wrong_type(events, fraction):
    with pytest.raises(StudentError, match="muss eine Zahl sein"):
        split_events_random(events, fraction)


def test_split_that_would_leave_a_list_empty(events):
    with pytest.raises(StudentError, match="leer"):
        split_events_random(events[:3], 0.01)


def test_split_of_an_empty_list_or_a_non_list(events):
    with pytest.raises(StudentError, match="ist leer"):
        split_events_random([], 0.3)
    with pytest.raises(StudentError, match="Liste von Ereignissen"):
        split_events_random(events[0], 0.3)
    with pytest.raises(StudentError, match="Liste von Ereignissen"):
        split_events_random([1, 2, 3], 0.3)


# -- augmentation -----------------------------------------------------------


def test_augment_with_four_factors_counts_per_category(events):
    augmented = augment_events(events, [3, 60, 60, 60])
    counts = {c: sum(e.category == c for e in augmented) for c in "qemt"}
    assert counts == {"q": 3 * 539, "e": 60 * 23, "m": 60 * 32, "t": 60 * 28}


def test_augment_with_three_factors_leaves_quarks_once(events):
    augmented = augment_events(events, [2, 3, 4])
    counts = {c: sum(e.category == c for e in augmented) for c in "qemt"}
    assert counts == {"q": 539, "e": 46, "m": 96, "t": 112}


def test_augment_with_one_integer(events):
    assert len(augment_events(events[:10], 5)) == 50


def test_augmented_copies_hold_no_pixels_and_are_shuffled(events):
    augmented = augment_events(events[:20], 4)
    assert all(e._pixels is None for e in augmented)
    assert all(e.is_transformed for e in augmented)
    filenames = [e.filename for e in augmented]
    assert filenames != sorted(filenames, key=[e.filename for e in events[:20]].index)
    mirrored = sum(e.mirrored for e in augmented)
    assert mirrored == len(augmented) // 2


@pytest.mark.parametrize(
    "factor, pattern",
    [
        ([1, 2], "Liste mit 4 ganzen Zahlen"),
        ([1, 2, 3, 4, 5], "Liste mit 4 ganzen Zahlen"),
        ("3", "Liste mit 4 ganzen Zahlen"),
        (2.5, "Liste mit 4 ganzen Zahlen"),
        ([3, 0, 1, 1], "ganze Zahl ab 1"),
        ([3, 2.5, 1, 1], "ganze Zahl ab 1"),
        ([3, -1, 1, 1], "ganze Zahl ab 1"),
        ([3, 1000, 1, 1], "zu groß"),
    ],
)
def test_augment_refuses_bad_factors(events, factor, pattern):
    with pytest.raises(StudentError, match=pattern):
        augment_events(events, factor)


def test_parse_factors_order_is_q_e_m_t():
    assert parse_factors([1, 2, 3, 4]) == {"q": 1, "e": 2, "m": 3, "t": 4}


def test_render_identity_mirror_and_quarter_turn(events):
    image = events[5].image
    assert np.array_equal(render(image, 0.0, False), image)
    assert np.array_equal(render(image, 0.0, True), image[:, ::-1])
    turned = render(image, 90.0, False)
    assert any(np.array_equal(turned, np.rot90(image, k)) for k in (1, 3))


def test_rendering_matches_tensorflows_projective_transform(events):
    """Pillow's copies equal TensorFlow's within one grey level wherever the source lies inside.

    At the picture's edge the two treat the half pixel outside differently (TensorFlow
    blends in black, Pillow does not); the real displays' content there is masked.
    """
    import tensorflow as tf

    angles = np.array([17.0, 123.0, 250.0, 90.0])
    mirrors = np.array([False, True, True, False])
    transforms = inverse_transforms(angles, mirrors)
    for image in (
        events[5].image,
        np.random.default_rng(3).integers(0, 256, (200, 200, 3), np.uint8),
    ):
        expected = tf.raw_ops.ImageProjectiveTransformV3(
            images=tf.constant(np.stack([image] * 4).astype(np.float32)),
            transforms=transforms,
            output_shape=[200, 200],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        ).numpy()
        ours = render_batch([image] * 4, transforms)
        ys, xs = np.mgrid[0:200, 0:200]
        for i in range(4):
            a0, a1, a2, b0, b1, b2 = transforms[i][:6]
            source_x, source_y = a0 * xs + a1 * ys + a2, b0 * xs + b1 * ys + b2
            inside = (source_x >= 0) & (source_x <= 199) & (source_y >= 0) & (source_y <= 199)
            assert inside.mean() > 0.6
            difference = np.abs(np.rint(expected[i]).astype(np.int16) - ours[i].astype(np.int16))
            assert difference[inside].max() <= 1
            assert np.array_equal(ours[i], render(image, angles[i], mirrors[i]))


def test_augmented_image_is_rendered_on_demand(events):
    copy = augment_events([events[5]], 1)[0]
    assert copy.image.shape == (200, 200, 3)
    assert copy.image.dtype == np.uint8


# -- overview ---------------------------------------------------------------


def test_visible_branching_ratios_from_the_pdg_widths():
    ratios = visible_branching_ratios()
    assert sum(ratios.values()) == pytest.approx(1.0)
    assert ratios["q"] == pytest.approx(69.911 / 80.01, rel=1e-4)
    assert ratios["e"] == pytest.approx(3.3632 / 80.01, rel=1e-4)


def test_overview_table_counts_and_theory(events, capsys):
    overview = Overview()
    overview.add_entry("Roh", events)
    overview.show()
    text = capsys.readouterr().out
    assert "Roh" in text and "Standardmodell" in text
    assert "539 (86.7 %)" in text
    assert "87.4 %" in text
    assert "<td>539 (86.7 %)</td>" in overview.to_html()


def test_overview_without_theory(events):
    overview = Overview()
    overview.add_entry("Roh", events)
    assert "Standardmodell" not in overview.to_text(show_theory=False)


def test_overview_refuses_duplicate_names_unless_overwrite(events):
    overview = Overview()
    overview.add_entry("Roh", events)
    with pytest.raises(StudentError, match="overwrite=True"):
        overview.add_entry("Roh", events[:10])
    overview.add_entry("Roh", events[:10], overwrite=True)
    assert sum(overview.entries[0][1].values()) == 10


def test_overview_delete_entry(events):
    overview = Overview()
    overview.add_entry("a", events[:5])
    overview.add_entry("b", events[:6])
    overview.delete_entry(0)
    assert [name for name, _ in overview.entries] == ["b"]
    with pytest.raises(StudentError, match="keine Spalte Nummer 3"):
        overview.delete_entry(3)
    with pytest.raises(StudentError):
        overview.delete_entry("b")


def test_overview_escapes_html(events):
    overview = Overview()
    overview.add_entry("<b>x</b>", events[:3])
    assert "&lt;b&gt;" in overview.to_html()


def test_overview_refuses_empty_list_and_bad_name(events):
    overview = Overview()
    with pytest.raises(StudentError, match="ist leer"):
        overview.add_entry("leer", [])
    with pytest.raises(StudentError, match="Name der Spalte"):
        overview.add_entry(3, events)


# -- scores -----------------------------------------------------------------


def test_confusion_matrix_accuracy_and_recall(events):
    sample = events[:4]
    truth = [e.category for e in sample]
    guesses = list(truth)
    guesses[0] = "e" if truth[0] != "e" else "q"
    predicted = predicted_copy(sample, guesses)
    matrix = confusion_matrix(sample, predicted)
    assert matrix.sum() == 4
    assert np.trace(matrix) == 3
    assert calculate_prediction_accuracy(sample, predicted) == pytest.approx(0.75)
    recall = recall_per_category(sample, predicted)
    assert recall[truth[0]] < 1


def test_show_confusion_matrix_prints_the_accuracy(events, capsys):
    sample = events[:8]
    predicted = predicted_copy(sample, [e.category for e in sample])
    show_confusion_matrix(sample, predicted)
    assert "Gesamtgenauigkeit der Vorhersage: 1.0000" in capsys.readouterr().out


def test_scores_refuse_mismatched_or_unpredicted_lists(events):
    with pytest.raises(StudentError, match="verschieden lang"):
        calculate_prediction_accuracy(events[:3], predicted_copy(events[:2], ["q", "q"]))
    with pytest.raises(StudentError, match="keine Vorhersagen"):
        calculate_prediction_accuracy(events[:3], events[:3])


def test_show_false_predictions(events, capsys):
    sample = events[:6]
    predicted = predicted_copy(sample, ["t"] * 6)
    show_false_predictions(sample, predicted, count=2)
    right = predicted_copy(sample, [e.category for e in sample])
    show_false_predictions(sample, right)
    assert "Keine falschen Vorhersagen" in capsys.readouterr().out


# -- language and seeds -----------------------------------------------------


def test_messages_in_english_from_the_environment(events, monkeypatch):
    monkeypatch.setenv("MASTERCLASS_LANG", "en")
    with pytest.raises(StudentError, match="must lie between 0 and 1"):
        split_events_random(events, 2)


def test_set_language_switches_and_refuses_unknown(events):
    set_language("en")
    with pytest.raises(StudentError, match="There is no category"):
        filter_by_category(events, "z")
    with pytest.raises(StudentError):
        set_language("fr")


def test_student_error_hides_the_traceback_in_ipython():
    error = StudentError("epochs", value=0)
    assert isinstance(error, ValueError)
    rendered = "\n".join(error._render_traceback_())
    assert "count_epochs" in rendered and "Traceback" not in rendered


def test_same_seed_gives_the_same_split_and_augmentation(events):
    set_random_seeds(3)
    first_a, _ = split_events_random(events, 0.3)
    copies_a = augment_events(first_a, 2)
    set_random_seeds(3)
    first_b, _ = split_events_random(events, 0.3)
    copies_b = augment_events(first_b, 2)
    assert [e.filename for e in first_a] == [e.filename for e in first_b]
    assert [(e.filename, e.angle, e.mirrored) for e in copies_a] == [
        (e.filename, e.angle, e.mirrored) for e in copies_b
    ]


def test_set_random_seeds_refuses_non_integers():
    with pytest.raises(StudentError):
        set_random_seeds("42")


def test_dir_lists_the_lazy_names():
    assert "MLModel" in dir(masterclass)
    with pytest.raises(AttributeError):
        masterclass.does_not_exist  # noqa: B018


# -- efficiency and the corrected measurement --------------------------------


def test_show_efficiency_gives_row_percentages_and_the_diagonal(events, capsys):
    sample = filter_by_category(events, "e")[:4] + filter_by_category(events, "q")[:6]
    guesses = ["e", "e", "q", "t"] + ["q"] * 6
    efficiency = show_efficiency(sample, predicted_copy(sample, guesses))
    assert efficiency["e"] == pytest.approx(0.5)
    assert efficiency.shares[1].tolist() == pytest.approx([0.25, 0.5, 0.0, 0.25])
    assert "Effizienz (die Diagonale)" in capsys.readouterr().out
    assert repr(efficiency).startswith("Efficiency(q=100.0 %, e=50.0 %")


def test_correction_undoes_known_mix_ups_in_both_directions():
    # Rows: true q, e, m, t. The network loses half the electrons to q and takes
    # 2 % of the quarks for muons.
    efficiency = Efficiency(
        np.array([[98, 0, 2, 0], [50, 50, 0, 0], [0, 0, 100, 0], [0, 0, 0, 100]])
    )
    true = {"q": 500, "e": 20, "m": 25, "t": 30}
    measured = {
        "q": 0.98 * 500 + 0.5 * 20,
        "e": 0.5 * 20,
        "m": 0.02 * 500 + 25,
        "t": 30,
    }
    corrected = efficiency.correct(measured)
    assert corrected == pytest.approx(true)


def test_correction_needs_every_category_in_the_validation(events):
    efficiency = Efficiency(np.array([[9, 1, 0, 0], [0, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 2]]))
    assert efficiency["m"] is None
    with pytest.raises(StudentError, match="kein Ereignis der Kategorie 'm'"):
        efficiency.correct({"q": 10, "e": 3, "m": 0, "t": 2})
    never_t = Efficiency(np.array([[9, 1, 0, 0], [0, 3, 0, 0], [0, 0, 4, 0], [0, 0, 2, 0]]))
    with pytest.raises(StudentError, match="zurückrechnen"):
        never_t.correct({"q": 10, "e": 3, "m": 6, "t": 0})


def test_overview_counts_a_prediction_corrected(events):
    sample = events[:40]
    predicted = predicted_copy(sample, ["q"] * 40)
    efficiency = Efficiency(np.diag([10, 10, 10, 10]))
    overview = Overview()
    overview.add_entry("Netz", predicted)
    overview.add_entry("korrigiert", predicted, efficiency=efficiency)
    assert overview.entries[1][1] == pytest.approx({"q": 40.0, "e": 0.0, "m": 0.0, "t": 0.0})
    assert "40.0 (100.0 %)" in overview.to_text()
    with pytest.raises(StudentError, match="nur die Vorhersage des Netzes"):
        overview.add_entry("falsch", sample, efficiency=efficiency)
    with pytest.raises(StudentError, match="muss von show_efficiency kommen"):
        overview.add_entry("falsch", predicted, efficiency={"q": 1.0})

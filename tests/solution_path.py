"""The worksheet's solution path, written out once for both tiers of tests.

These are the student API calls from loading the events through the splits (test, then
training and validation), the augmentation of the training part only, and the training
to the evaluation, as the worksheet does them since issue 19, using the worksheet's
names (``ev``, ``tv``, ``test``, ``aug``, ``train``, ``val``, ``m``, ``pred``). The image
and hub tests run the text in a container and in a pair's kernel. The unit tests run it
in-process with :func:`run` and carry on with its names.

pytest.ini's ``pythonpath = tests`` makes ``import solution_path`` work from every test
directory.
"""

from __future__ import annotations

_START = "from masterclass import *\nset_random_seeds({seed})\n"
_LOAD = "ev = load_events()\n"
_PREPARE = """\
tv, test = split_events_random(ev, fraction_first_block=0.3)
train, val = split_events_random(tv, fraction_first_block=0.8)
aug = augment_events(train, {factors})
m = MLModel()
m.load_structure_default()
m.load_training_eventlist(aug)
m.load_validation_eventlist(val)
"""
_TRAIN = "m.train(count_epochs={epochs})\n"
_EVALUATE = """\
pred = m.predict(test)
print("ACCURACY", calculate_prediction_accuracy(test, pred))
"""


def solution_path(
    epochs: int = 1,
    *,
    seed: int = 1,
    factors: tuple[int, int, int, int] = (3, 60, 60, 60),
    load: bool = True,
    train: bool = True,
    evaluate: bool = True,
) -> str:
    """The solution path as Python code.

    ``load=False`` leaves out ``ev = load_events()``, so the caller must provide ``ev``
    (see :func:`run`). ``train=False`` stops once the model has its structure and data.
    ``evaluate=False`` stops after the training. Evaluating ends by printing
    ``ACCURACY <fraction>``.
    """
    if evaluate and not train:
        raise ValueError("evaluating needs the training")
    parts = [_START, _LOAD if load else "", _PREPARE]
    if train:
        parts.append(_TRAIN)
    if evaluate:
        parts.append(_EVALUATE)
    return "".join(parts).format(seed=seed, factors=list(factors), epochs=epochs)


def run(code: str, **names) -> dict:
    """Run ``code`` in this process in a fresh namespace that starts with ``names``.

    Returns the namespace, so the caller can keep working with ``m``, ``test`` and the rest.
    """
    namespace = dict(names)
    exec(compile(code, "<solution path>", "exec"), namespace)
    return namespace

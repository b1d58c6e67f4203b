"""Benchmark the worksheet's solution path on the real OPAL events: memory, time, accuracy.

Each seed runs in a fresh Python process (so imports and peak memory count in
full), the same flow as the upstream figures in ``../shared/MACHINE.md``:
622 events, ``fraction_first_block=0.3``, factors ``[3, 60, 60, 60]``, an 80/20
training/validation split, the default network, 3 epochs, prediction on the
test split. The summary gives medians over the seeds.

Usage::

    python benchmarks/student_flow.py                 # 5 seeds, 3 epochs
    python benchmarks/student_flow.py --seeds 1 2 3 --json out.json
    python benchmarks/student_flow.py --vs-upstream DIR --seeds 1 2

``--vs-upstream DIR`` runs the same path with the original masterclass helpers too,
alternating per seed in an ABBA order (ours, upstream; upstream, ours; ...), so both see
the same machine load and neither always runs first, and prints the ratios.

Before the measured runs, ``--warmup`` runs (default 1, one epoch each, on each side)
load TensorFlow's libraries and the events into the page cache, so that the first
measured seed does not pay for a cold cache that later seeds do not; their figures are
discarded. DIR holds ``opal_mc_ml_helpers.py`` of
``NTW-Muenster/opal-mc-ml`` at ``339c960``, fetched by whoever runs this and never
committed (there is no licence to copy it)::

    git -C opal-mc-ml show 339c960:opal_mc_ml_helpers.py > DIR/opal_mc_ml_helpers.py

The events go into DIR in the helpers' layout (``events_list.csv``, ``events-images/``),
unpacked from the raw pair here if they are missing. The helpers need scikit-learn,
scikit-image, pandas and matplotlib besides TensorFlow: ``--upstream-python`` names a Python that
has them (default ``DIR/venv/bin/python``), never the student image.

This is a benchmark, not a test: it asserts nothing. The figures go into
``docs/toolkit.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

STAGES = ("import", "load", "split", "augment", "build", "train", "predict")


def run_flow(seed: int, epochs: int) -> dict:
    """Run the solution path once in this process; return the measured figures."""
    import resource

    timings: dict[str, float] = {}
    started = last = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal last
        now = time.perf_counter()
        timings[stage] = now - last
        last = now

    import masterclass
    from masterclass import (
        MLModel,
        augment_events,
        calculate_prediction_accuracy,
        load_events,
        set_random_seeds,
        split_events_random,
    )
    from masterclass.toolkit.plots import recall_per_category

    masterclass.MLModel  # noqa: B018 - count the TensorFlow import in "import"
    lap("import")
    set_random_seeds(seed)
    events = load_events()
    lap("load")
    tv, test = split_events_random(events, fraction_first_block=0.3)
    lap("split")
    augmented = augment_events(tv, [3, 60, 60, 60])
    training, validation = split_events_random(augmented, fraction_first_block=0.8)
    lap("augment")
    model = MLModel()
    model.load_structure_default()
    model.load_training_eventlist(training)
    model.load_validation_eventlist(validation)
    lap("build")
    model.train(count_epochs=epochs, show_time=False)
    lap("train")
    predicted = model.predict(test)
    lap("predict")
    total = time.perf_counter() - started
    return {
        "seed": seed,
        "epochs": epochs,
        "training_images": len(training),
        "test_events": len(test),
        "seconds": timings,
        "total_seconds": total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "accuracy": calculate_prediction_accuracy(test, predicted),
        "recall": recall_per_category(test, predicted),
    }


def run_in_fresh_process(seed: int, epochs: int) -> dict:
    """Run one seed in a new interpreter and return its figures."""
    command = [sys.executable, __file__, "--child", str(seed), "--epochs", str(epochs)]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"seed {seed} failed with exit code {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_upstream_flow(seed: int, epochs: int) -> dict:
    """The same path with the original helpers (cwd: their folder); the measured figures."""
    import resource

    timings: dict[str, float] = {}
    started = last = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal last
        now = time.perf_counter()
        timings[stage] = now - last
        last = now

    import opal_mc_ml_helpers as helpers

    lap("import")
    helpers.set_random_seeds(seed)
    events = helpers.load_events()
    lap("load")
    tv, test = helpers.split_events_random(events, fraction_first_block=0.3)
    lap("split")
    augmented = helpers.augment_events(tv, [3, 60, 60, 60])
    training, validation = helpers.split_events_random(augmented, fraction_first_block=0.8)
    lap("augment")
    model = helpers.MLModel()
    model.load_structure_default()
    model.load_training_eventlist(training)
    model.load_validation_eventlist(validation)
    lap("build")
    model.train(count_epochs=epochs, show_time=False)
    lap("train")
    predicted = model.predict(test)
    lap("predict")
    total = time.perf_counter() - started
    recall = {}
    for category in "qemt":
        pairs = [(t, p) for t, p in zip(test, predicted, strict=True) if t.category == category]
        hits = sum(p.category == t.category for t, p in pairs)
        recall[category] = hits / len(pairs) if pairs else float("nan")
    return {
        "side": "upstream",
        "seed": seed,
        "epochs": epochs,
        "training_images": len(training),
        "test_events": len(test),
        "seconds": timings,
        "total_seconds": total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "accuracy": helpers.calculate_prediction_accuracy(test, predicted),
        "recall": recall,
    }


def prepare_upstream_events(folder: str, raw: str) -> None:
    """The raw pair unpacked into the helpers' layout (events_list.csv, events-images/)."""
    import shutil
    import zipfile

    images = os.path.join(folder, "events-images")
    if os.path.isdir(images) and os.path.isfile(os.path.join(folder, "events_list.csv")):
        return
    os.makedirs(images, exist_ok=True)
    prefix = "finalcenteredmaskedrotatedopencv"
    with zipfile.ZipFile(os.path.join(raw, "centered-masked-rotated1.zip")) as archive:
        for name in archive.namelist():
            base = os.path.basename(name)
            if base.startswith(prefix) and base.endswith(".png"):
                with open(os.path.join(images, base[len(prefix) :]), "wb") as out:
                    out.write(archive.read(name))
    shutil.copyfile(os.path.join(raw, "events_list.csv"), os.path.join(folder, "events_list.csv"))


def run_upstream_in_fresh_process(python: str, folder: str, seed: int, epochs: int) -> dict:
    """Run one seed of the upstream path in a new interpreter (cwd: the helpers' folder)."""
    command = [python, os.path.abspath(__file__), "--upstream-child", str(seed)]
    command += ["--epochs", str(epochs)]
    env = {**os.environ, "PYTHONPATH": os.path.abspath(folder)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"upstream seed {seed} failed with exit code {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare(ours: list[dict], upstream: list[dict]) -> dict:
    """Medians of both sides and their ratios (ours / upstream)."""
    a, b = summarise(ours), summarise(upstream)
    return {
        "ours": a,
        "upstream": b,
        "ratio_total": round(a["total_seconds"] / b["total_seconds"], 3),
        "ratio_train": round(a["seconds"]["train"] / b["seconds"]["train"], 3),
        "ratio_peak_rss": round(a["peak_rss_mb"] / b["peak_rss_mb"], 3),
        "per_seed_ratio_total": [
            round(x["total_seconds"] / y["total_seconds"], 3)
            for x, y in zip(ours, upstream, strict=True)
        ],
        "per_seed_ratio_train": [
            round(x["seconds"]["train"] / y["seconds"]["train"], 3)
            for x, y in zip(ours, upstream, strict=True)
        ],
        "load_1min": [r.get("load_1min") for r in ours + upstream],
    }


def summarise(runs: list[dict]) -> dict:
    """Return the medians over all runs."""

    def median(values):
        return statistics.median(values)

    return {
        "side": runs[0].get("side", "ours"),
        "runs": len(runs),
        "cores": os.cpu_count(),
        "peak_rss_mb": median([r["peak_rss_mb"] for r in runs]),
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
        "total_seconds": median([r["total_seconds"] for r in runs]),
        "seconds": {s: median([r["seconds"][s] for r in runs]) for s in STAGES},
        "accuracy": median([r["accuracy"] for r in runs]),
        "accuracy_all": [round(r["accuracy"], 4) for r in runs],
        "recall": {
            c: median([r["recall"][c] for r in runs if r["recall"][c] == r["recall"][c]])
            for c in "qemt"
        },
    }


def print_report(runs: list[dict], summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    title = f"Solution path ({summary['side']}), {summary['cores']} cores, medians over {len(runs)}"
    table = Table(title=title)
    table.add_column("seed")
    table.add_column("peak RSS MB", justify="right")
    for stage in STAGES:
        table.add_column(f"{stage} s", justify="right")
    table.add_column("total s", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("recall q/e/m/t", justify="right")
    for run in [*runs, {**summary, "seed": "median"}]:
        table.add_row(
            str(run["seed"]),
            f"{run['peak_rss_mb']:.0f}",
            *(f"{run['seconds'][s]:.1f}" for s in STAGES),
            f"{run['total_seconds']:.1f}",
            f"{run['accuracy']:.3f}",
            "/".join(f"{run['recall'][c]:.2f}" for c in "qemt"),
        )
    Console(width=200).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--warmup", type=int, default=1, help="discarded one-epoch runs per side first (default 1)"
    )
    parser.add_argument("--json", help="also write all figures to this file")
    parser.add_argument("--vs-upstream", metavar="DIR", help="alternate with the original helpers")
    parser.add_argument("--upstream-python", help="a Python with the helpers' packages")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream-child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child is not None:
        print(json.dumps(run_flow(arguments.child, arguments.epochs)))
        return
    if arguments.upstream_child is not None:
        print(json.dumps(run_upstream_flow(arguments.upstream_child, arguments.epochs)))
        return
    shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
    shared_events = os.path.normpath(os.path.join(shared, "opal-events"))
    if "MASTERCLASS_DATA_DIR" not in os.environ and os.path.isdir(shared_events):
        os.environ["MASTERCLASS_DATA_DIR"] = shared_events
    if arguments.vs_upstream:
        folder = arguments.vs_upstream
        prepare_upstream_events(folder, os.environ.get("MASTERCLASS_DATA_DIR", shared_events))
        python = arguments.upstream_python or os.path.join(folder, "venv", "bin", "python")
        for warmup in range(arguments.warmup):
            started = time.perf_counter()
            run_in_fresh_process(arguments.seeds[0], 1)
            run_upstream_in_fresh_process(python, folder, arguments.seeds[0], 1)
            print(f"warm-up {warmup + 1}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        ours, upstream = [], []
        for index, seed in enumerate(arguments.seeds):
            sides = [("ours", ours), ("upstream", upstream)]
            for side, runs_of_side in sides if index % 2 == 0 else sides[::-1]:
                load = os.getloadavg()[0]
                started = time.perf_counter()
                if side == "ours":
                    run = run_in_fresh_process(seed, arguments.epochs)
                else:
                    run = run_upstream_in_fresh_process(python, folder, seed, arguments.epochs)
                run["load_1min"] = round(load, 1)
                runs_of_side.append(run)
                print(
                    f"seed {seed} {side}: {time.perf_counter() - started:.0f} s, "
                    f"train {run['seconds']['train']:.1f} s, peak {run['peak_rss_mb']:.0f} MB, "
                    f"accuracy {run['accuracy']:.3f}, load {load:.1f}",
                    file=sys.stderr,
                )
        result = compare(ours, upstream)
        print_report(ours, result["ours"])
        print_report(upstream, result["upstream"])
        print(json.dumps({k: v for k, v in result.items() if k not in ("ours", "upstream")}))
        if arguments.json:
            with open(arguments.json, "w") as handle:
                json.dump({**result, "runs": ours + upstream}, handle, indent=2)
        return
    for _warmup in range(arguments.warmup):
        run_in_fresh_process(arguments.seeds[0], 1)
    runs = []
    for seed in arguments.seeds:
        started = time.perf_counter()
        runs.append(run_in_fresh_process(seed, arguments.epochs))
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    summary = summarise(runs)
    print_report(runs, summary)
    if arguments.json:
        with open(arguments.json, "w") as handle:
            json.dump({"summary": summary, "runs": runs}, handle, indent=2)


if __name__ == "__main__":
    main()

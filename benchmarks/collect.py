"""Collect: how long autograding N pairs takes, replaying their trainings, and whether it is right.

``masterclass class collect`` autogrades every pair's notebook. Running a notebook again
means training the network again, so collect grew with every pair that trained. The
grader now grades two pairs at a time and replays the training each pair's server
recorded (masterclass.toolkit.replay). This benchmark runs tests/grading_replay.py in a
container of the student image, as the grader container runs (root, no network): one
pair works the real worksheet (every gap filled as the solution fills it, run from the
top with its trainings recorded), its folder is submitted for ``--pairs`` pairs, and

- **replay**: ``collect`` of all of them, ``--workers`` at a time, is timed;
- **full**: ``collect`` of ``--full`` of them on a course of their own, each notebook
  trained anew (the reference: what collect did before), is timed too;
- every graded cell's score of those pairs must be the same in both (``identical``).

The 1-minute load average is printed before and after (the machine is shared), and the
CPU-seconds of each collect (the container's cgroup), which do not depend on the load:
divided by the cores they estimate the time on an otherwise idle machine.

Usage:
    .venv/bin/python benchmarks/collect.py [--pairs 30] [--workers 2] [--full 2]
        [--image masterclass/student:latest] [--lang en] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from grading_replay import run_in_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--full", type=int, default=2, help="pairs graded without replay too")
    parser.add_argument("--image", default="masterclass/student:latest")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path, help="append the figures to this file")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    figures = run_in_image(args.image, args.pairs, args.workers, args.full, args.lang, args.timeout)
    figures["load_1min_before"] = round(load_before, 1)
    figures["load_1min_after"] = round(os.getloadavg()[0], 1)
    figures["cores"] = os.cpu_count()
    figures["ratio_per_pair"] = round(figures["replay_per_pair_s"] / figures["full_per_pair_s"], 3)
    # CPU-seconds (the container's cgroup) do not depend on what else runs on the machine:
    # divided by the cores, they bound the wall time on an otherwise idle machine.
    for side in ("replay", "full"):
        cpu = figures.get(f"{side}_collect_cpu_s")
        if cpu is not None:
            pairs = args.pairs if side == "replay" else args.full
            figures[f"{side}_cpu_per_pair_s"] = round(cpu / pairs, 1)
    if figures.get("replay_collect_cpu_s") is not None:
        figures["replay_idle_estimate_s"] = round(
            figures["replay_collect_cpu_s"] / os.cpu_count(), 1
        )
    shown = {k: v for k, v in figures.items() if not k.endswith("_grades")}
    print(json.dumps(shown, indent=1))
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()

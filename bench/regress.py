"""Before/after on one machine in one run: the must-not-regress figures of two checkouts.

    .venv/bin/python bench/regress.py BEFORE AFTER [--rounds 4] [--steady-rounds 2] [--quick]

BEFORE and AFTER are checkouts, each with its own ``.venv`` (``make install``); the benchmark
scripts of this folder drive both (``AUTEUR_BENCH_ROOT`` names the code measured). Each round runs
``controller_bench.py bulk latency`` and ``api_bench.py create`` on both, alternating which goes
first (ABBA...), so a machine that speeds up or slows down over the run weighs on both alike;
``controller_bench.py steady`` (10,000 projects, several minutes each) runs ``--steady-rounds``
times the same way. ``--tmp /dev/shm`` puts the workspaces in memory, leaving out the disk,
whose noise on a shared machine is larger than any change of code. It prints each figure per
run, then per checkout the median and the spread (max - min over its runs, the run-to-run
noise), and the change of the medians.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

# figure name -> (benchmark command, regular expression for its value, unit, whether higher is better)
FIGURES: dict[str, tuple[str, str, str, bool]] = {
    "bulk ratio vs git CLI": ("bulk", r"throughput ratio vs baseline: ([\d.]+)x", "x", True),
    "bulk ms/project": ("bulk", r"all ready in [\d.]+s: ([\d.]+) ms/project", "ms", False),
    "bulk controller CPU/project": ("bulk", r"controller CPU \(user \+ system, start included\): ([\d.]+) ms", "ms", False),
    "drop -> ready p99": ("latency", r"one at a time: .*p99=([\d.]+)ms", "ms", False),
    "create p50": ("create", r"create: \d+ sequential .* p50=([\d.]+)ms", "ms", False),
    "create p99": ("create", r"create: \d+ sequential .* p99=([\d.]+)ms", "ms", False),
    "create server CPU": ("create", r"create: server CPU \(user \+ system\): ([\d.]+) ms", "ms", False),
    "resync pass median": ("steady", r"full resync pass over \d+ projects: median ([\d.]+)s", "s", False),
    "CPU per resync pass": ("steady", r"CPU per resync period \(([\d.]+)s", "s", False),
    "controller peak RSS": ("steady", r"peak RSS: controller (\d+) MB", "MB", False),
}


HERE = Path(__file__).resolve().parent


def run(checkout: Path, bench: str, quick: bool, tmp: Path | None) -> str:
    """This folder's benchmark scripts, run by the checkout's Python on the checkout's code."""
    python = str(checkout / ".venv" / "bin" / "python")
    if bench == "create":
        command = [python, str(HERE / "api_bench.py"), "create"] + (["--creates", "20"] if quick else [])
    else:
        command = [python, str(HERE / "controller_bench.py"), bench] + (["--quick"] if quick else [])
    env = dict(os.environ, AUTEUR_BENCH_ROOT=str(checkout))
    if tmp is not None:
        env.update(BENCH_TMP=str(tmp), TMPDIR=str(tmp))
    result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} in {checkout} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steady-rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run of this script")
    parser.add_argument("--tmp", type=Path, help="scratch folder for the workspaces (e.g. /dev/shm: no disk noise)")
    args = parser.parse_args()
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    values: dict[tuple[str, str], list[float]] = {}
    plan = [(bench, rounds) for bench, rounds in (("bulk", args.rounds), ("latency", args.rounds),
                                                  ("create", args.rounds), ("steady", args.steady_rounds))]  # fmt: skip
    for bench, rounds in plan:
        for round_ in range(rounds):
            order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
            for label in order:
                out = run(checkouts[label], bench, args.quick, args.tmp)
                for name, (of, pattern, unit, _) in FIGURES.items():
                    if of != bench:
                        continue
                    match = re.search(pattern, out)
                    if match is None:
                        sys.exit(f"{name}: no figure in the output of {bench} ({label}):\n{out}")
                    values.setdefault((name, label), []).append(float(match.group(1)))
                    print(f"{bench} round {round_ + 1} {label}: {name} {match.group(1)} {unit}", flush=True)
    print()
    print("| figure | before: median (runs; spread) | after: median (runs; spread) | change of the medians |")
    print("| --- | --- | --- | --- |")
    for name, (_, _, unit, higher_better) in FIGURES.items():
        before, after = values.get((name, "before")), values.get((name, "after"))
        if not before or not after:
            continue
        cells = []
        for runs in (before, after):
            spread = max(runs) - min(runs)
            listed = ", ".join(f"{v:g}" for v in runs)
            cells.append(f"{statistics.median(runs):g} {unit} ({listed}; {spread:.3g})")
        change = (statistics.median(after) / statistics.median(before) - 1) * 100
        better = (change > 0) == higher_better
        print(f"| {name} | {cells[0]} | {cells[1]} | {change:+.1f}% ({'better' if better or change == 0 else 'worse'}) |")


if __name__ == "__main__":
    main()

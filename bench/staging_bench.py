"""Staging an upload: ``api.staging.StagedFile`` fed from a file, without the network, one copy
or two (the LFS copy written alongside), with the written ranges dropped from the page cache as
it goes (as shipped) or kept there (the behaviour before, as a baseline).

    .venv/bin/python bench/staging_bench.py [--size-mib 1024] [--rounds 4] [--tmp /var/tmp]

Each of the four variants in turn stages the same cached source ``--rounds`` times in a row,
keeping every staged file until the variant is done (as uploads pile up before their ingest),
and prints the seconds of each round (writing + the final fsync) and the median, then the
ratio kept / dropped for one copy and for two. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("AUTEUR_BENCH_ROOT", str(Path(__file__).resolve().parents[1])))

from api import staging

READ = 256 << 10
DroppingLane = staging._Lane


class KeepingLane(DroppingLane):
    """A lane that only hands ranges to the disk and keeps them cached (no ``drop_written``)."""

    def write(self, chunks: list[bytes]) -> None:
        self._dropped = self._handed  # nothing is ever left to drop
        super().write(chunks)


async def stage(source: Path, folder: Path, copies: int) -> float:
    folder.mkdir()
    started = time.perf_counter()
    staged = staging.StagedFile(folder / "content", folder / "object" if copies == 2 else None)
    with open(source, "rb", buffering=0) as src:
        while chunk := src.read(READ):
            await staged.write(chunk)
    await staged.finish()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tmp", default="/var/tmp")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="auteur-staging-bench-", dir=args.tmp))
    try:
        source = base / "source.bin"
        with open(source, "wb") as out:
            for _ in range(args.size_mib):
                out.write(os.urandom(1 << 20))
        variants = [(copies, keep) for keep in (False, True) for copies in (2, 1)]
        print(f"staging {args.size_mib} MiB from a cached file, {args.rounds} rounds per variant; scratch {base}")
        took: dict[tuple[int, bool], list[float]] = {}
        for n, (copies, keep) in enumerate(variants):
            staging._Lane = KeepingLane if keep else DroppingLane
            variant = base / f"v{n}"
            variant.mkdir()
            os.sync()
            times = [asyncio.run(stage(source, variant / str(r), copies)) for r in range(args.rounds)]
            took[(copies, keep)] = times
            shutil.rmtree(variant)
            label = f"{copies} cop{'y' if copies == 1 else 'ies'}, pages {'kept' if keep else 'dropped'}"
            rounds = " ".join(f"{t:.2f}" for t in times)
            print(f"  {label:28} rounds {rounds} s; median {statistics.median(times):.2f} s "
                  f"({args.size_mib * copies / statistics.median(times):.0f} MiB/s written)", flush=True)  # fmt: skip
        for copies in (2, 1):
            ratio = statistics.median(took[(copies, True)]) / statistics.median(took[(copies, False)])
            print(f"{copies} cop{'y' if copies == 1 else 'ies'}: kept / dropped = {ratio:.2f}x")
    finally:
        staging._Lane = DroppingLane
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

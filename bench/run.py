"""``make bench``: every benchmark, printing numbers (see BENCHMARKS.md)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(subprocess.call([sys.executable, str(HERE / "controller_bench.py"), *args]))

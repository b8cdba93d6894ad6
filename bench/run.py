"""``make bench``: every benchmark in turn, printing numbers (see BENCHMARKS.md).

.venv/bin/python bench/run.py            # all (about 30 minutes here: the gallery converges 10,000 projects)
.venv/bin/python bench/run.py --quick    # small sizes, a smoke run
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SUITES = [
    ("reconciler core", ["controller_bench.py"], ["controller_bench.py", "--quick"]),
    ("REST API", ["api_bench.py"], ["api_bench.py", "--projects", "500", "--creates", "50"]),
    ("uploads", ["upload_bench.py"], ["upload_bench.py", "--size-mib", "64"]),
    ("web gallery", ["web_bench.py"], ["web_bench.py", "--projects", "1000", "--runs", "5"]),
    ("Redis stack", ["stack_bench.py"], ["stack_bench.py", "--quick"]),
    (
        "container overhead",
        ["container_bench.py", "--rounds", "2"],
        ["container_bench.py", "--creates", "20", "--projects", "100", "--upload-mib", "64"],
    ),
]

if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    failed = 0
    for title, full, small in SUITES:
        args = small if quick else full
        if not (HERE / args[0]).exists():
            continue
        print(f"\n== {title}: bench/{' '.join(args)}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / args[0]), *args[1:]])
    sys.exit(1 if failed else 0)

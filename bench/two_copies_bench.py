"""Two copies of one file, three ways: both written as the bytes arrive (``tee``), one written
and then copied from the page cache (``copy``), or copied after the first left the cache
(``evict``: what a worker meets when the writer's memory limit evicted it).

    .venv/bin/python bench/two_copies_bench.py SOURCE tee|copy|evict

Writes SOURCE.a and SOURCE.b beside SOURCE (same filesystem), handing each 32 MiB to the disk
as it goes (``auteur.atomic.start_writeback``, as the uploads and LFS copies do), fsyncs, and
prints the seconds taken; removes both. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auteur.atomic import start_writeback

CHUNK = 1 << 20
WRITEBACK_BYTES = 32 << 20


def chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as source:
        while chunk := source.read(CHUNK):
            yield chunk


def write_all(paths: list[str], data: Iterator[bytes]) -> None:
    fds = [os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644) for p in paths]
    try:
        written = handed = 0
        for chunk in data:
            for fd in fds:
                os.write(fd, chunk)
            written += len(chunk)
            if written - handed >= WRITEBACK_BYTES:
                for fd in fds:
                    start_writeback(fd, handed, written - handed)
                handed = written
        for fd in fds:
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[2] not in ("tee", "copy", "evict"):
        print(__doc__, file=sys.stderr)
        return 2
    source, mode = sys.argv[1], sys.argv[2]
    first, second = source + ".a", source + ".b"
    started = time.perf_counter()
    try:
        if mode == "tee":
            write_all([first, second], chunks(source))
        else:
            write_all([first], chunks(source))
            if mode == "evict":
                fd = os.open(first, os.O_RDONLY)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(fd)
            write_all([second], chunks(first))
        print(f"{mode}: {time.perf_counter() - started:.2f} s total")
    finally:
        for path in (first, second):
            if os.path.exists(path):
                os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

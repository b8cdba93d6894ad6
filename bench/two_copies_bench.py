"""Two copies of a file: written together as the bytes arrive (tee), one then the other from the page cache (copy),
or after the first left the cache (evict). Usage: python bench/two_copies_bench.py SOURCE tee|copy|evict"""

import ctypes
import os
import sys
import time

libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
WIN = 32 << 20
CH = 1 << 20


def write_win(fds, data_iter):
    off = flushed = 0
    for chunk in data_iter:
        for fd in fds:
            os.write(fd, chunk)
        off += len(chunk)
        if off - flushed >= WIN:
            for fd in fds:
                libc.sync_file_range(fd, flushed, off - flushed, 2)
            flushed = off
    for fd in fds:
        os.fsync(fd)


def chunks(path):
    with open(path, "rb", buffering=0) as f:
        while c := f.read(CH):
            yield c


src, mode = sys.argv[1], sys.argv[2]
a, b = src + ".a", src + ".b"
t = time.perf_counter()
fa = os.open(a, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
if mode == "tee":
    fb = os.open(b, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    write_win([fa, fb], chunks(src))
    os.close(fb)
    os.close(fa)
else:
    write_win([fa], chunks(src))
    os.close(fa)
    t1 = time.perf_counter()
    if mode == "evict":
        fd = os.open(a, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    fb = os.open(b, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    write_win([fb], chunks(a))
    os.close(fb)
el = time.perf_counter() - t
print(f"{mode}: {el:.2f} s total")
os.unlink(a)
os.unlink(b)

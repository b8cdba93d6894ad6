"""One uploaded file on its way to disk: hashed and written as its bytes arrive.

Used by ``api.uploads`` for every file of a multipart upload. The event loop only
collects the body into buffers of about 1 MiB; two threads of the file's own take
it from there, one hashing (sha256, the future LFS oid) and one writing, each in
order, with a few buffers in flight. hashlib and ``writev`` release the GIL, so
receiving, hashing and writing overlap (measured about 20% faster on 1 GiB than
hashing and writing in turn), and memory stays a few MiB whatever the size.
Every 32 MiB the written range is handed to the disk (``start_writeback``) so
the final fsync, which the upload's answer waits for, has little left to do.

A file bound for Git LFS may be written twice as it arrives (``lfs_copy``): the
second copy is the project's future LFS object, which the ingest only renames into
place (``worker.ingesting``). Writing both from the same buffers costs about what
copying one from the page cache does, and far less than copying it after the cache
has dropped it, as a container's memory limit makes it do for a large file before
the worker gets to it. Where the volume shares blocks (reflinks) the ingest's copy
is free and the API writes one file only (``auteur.uploads.shares_blocks``).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from auteur.atomic import start_writeback

FLUSH_BYTES = 1 << 20
IN_FLIGHT = 4
WRITEBACK_BYTES = 32 << 20


class StagedFile:
    """Write-only, exclusive (``O_EXCL | O_NOFOLLOW``) staging file with its running sha256,
    and with ``lfs_copy`` a second file of the same bytes, written alongside."""

    def __init__(self, path: Path, lfs_copy: Path | None = None) -> None:
        self.lfs_copy = lfs_copy
        self.fds = [_create(path)]
        if lfs_copy is not None:
            try:
                self.fds.append(_create(lfs_copy))
            except BaseException:
                os.close(self.fds[0])
                raise
        self.digest = hashlib.sha256()
        self.size = 0
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._inflight: collections.deque[asyncio.Future[tuple[None, None]]] = collections.deque()
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="upload-hash")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="upload-write")
        self._written = self._handed = 0  # touched by the writing thread only

    async def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self.size += len(chunk)
        if self._buffered >= FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        chunks, self._chunks, self._buffered = self._chunks, [], 0
        while len(self._inflight) >= IN_FLIGHT:
            await self._inflight.popleft()  # a failed write or hash surfaces here
        if chunks:
            loop = asyncio.get_running_loop()
            hashed = loop.run_in_executor(self._hasher, self._hash, chunks)
            written = loop.run_in_executor(self._writer, self._write_out, chunks)
            self._inflight.append(asyncio.gather(hashed, written))

    def _hash(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.digest.update(chunk)

    def _write_out(self, chunks: list[bytes]) -> None:
        for fd in self.fds:
            _write_all(fd, chunks)
        self._written += sum(map(len, chunks))
        if self._written - self._handed >= WRITEBACK_BYTES:
            for fd in self.fds:
                start_writeback(fd, self._handed, self._written - self._handed)
            self._handed = self._written

    def _sync(self) -> None:
        for fd in self.fds:
            os.fsync(fd)

    async def finish(self) -> str:
        """Write what is buffered, fsync, close; return the sha256 (the LFS oid)."""
        await self._flush()
        while self._inflight:
            await self._inflight.popleft()
        await asyncio.get_running_loop().run_in_executor(self._writer, self._sync)
        self._close()
        return self.digest.hexdigest()

    def abort(self) -> None:
        """Close the file after the writes still queued (the caller removes it)."""
        self._close()

    def _close(self) -> None:
        fds, self.fds = self.fds, []
        for fd in fds:
            self._writer.submit(os.close, fd)  # after any write still queued on that lane
        self._writer.shutdown(wait=False)
        self._hasher.shutdown(wait=False)


def _create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)


def _write_all(fd: int, chunks: list[bytes]) -> None:
    while chunks:
        written = os.writev(fd, chunks)
        while chunks and written >= len(chunks[0]):
            written -= len(chunks[0])
            chunks = chunks[1:]
        if chunks and written:
            chunks = [chunks[0][written:], *chunks[1:]]

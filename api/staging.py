"""One uploaded file on its way to disk: hashed and written as its bytes arrive.

Used by ``api.uploads`` for every file of a multipart upload. The event loop only
collects the body into buffers of about 1 MiB; two threads of the file's own take
it from there, one hashing (sha256, the future LFS oid) and one writing (each copy
in turn: a thread per copy measured no faster), each in order, with a few buffers
in flight. hashlib and ``writev`` release the GIL, so receiving, hashing and
writing overlap (measured about 20% faster on 1 GiB than hashing and writing in
turn), and memory stays a few MiB whatever the size.
Every 32 MiB the written range is handed to the disk (``start_writeback``) and the
range handed before it, written by now, leaves the page cache (``drop_written``): the
final fsync, which the upload's answer waits for, has little left to do, and the
file takes a few dozen MiB of memory whatever its size (the ingest renames it; it
does not read it).

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

from auteur.atomic import drop_written, start_writeback

FLUSH_BYTES = 1 << 20
IN_FLIGHT = 4
WRITEBACK_BYTES = 32 << 20


class StagedFile:
    """Write-only, exclusive (``O_EXCL | O_NOFOLLOW``) staging file with its running sha256,
    and with ``lfs_copy`` a second file of the same bytes, written alongside."""

    def __init__(self, path: Path, lfs_copy: Path | None = None) -> None:
        self.lfs_copy = lfs_copy
        self.lanes = [_Lane(path)]
        if lfs_copy is not None:
            try:
                self.lanes.append(_Lane(lfs_copy))
            except BaseException:
                self.lanes[0].close()  # no thread has it yet
                raise
        self.digest = hashlib.sha256()
        self.size = 0
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._inflight: collections.deque[asyncio.Future[tuple[None, None]]] = collections.deque()
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="upload-hash")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="upload-write")

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
        for lane in self.lanes:
            lane.write(chunks)

    def _sync(self) -> None:
        for lane in self.lanes:
            os.fsync(lane.fd)

    async def finish(self) -> str:
        """Write what is buffered, fsync, close; return the sha256 (the LFS oid)."""
        await self._flush()
        while self._inflight:
            await self._inflight.popleft()
        await asyncio.get_running_loop().run_in_executor(self._writer, self._sync)
        self._close()
        return self.digest.hexdigest()

    def abort(self) -> None:
        """Close the files after the writes still queued (the caller removes them)."""
        self._close()

    def _close(self) -> None:
        lanes, self.lanes = self.lanes, []
        for lane in lanes:
            self._writer.submit(lane.close)  # after any write still queued
        self._writer.shutdown(wait=False)
        self._hasher.shutdown(wait=False)


class _Lane:
    """One file being written (by the writing thread only), with how far it went to disk."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        self._written = self._handed = self._dropped = 0

    def write(self, chunks: list[bytes]) -> None:
        while chunks:
            written = os.writev(self.fd, chunks)
            self._written += written
            while chunks and written >= len(chunks[0]):
                written -= len(chunks[0])
                chunks = chunks[1:]
            if chunks and written:
                chunks = [chunks[0][written:], *chunks[1:]]
        if self._written - self._handed >= WRITEBACK_BYTES:
            start_writeback(self.fd, self._handed, self._written - self._handed)
            drop_written(self.fd, self._dropped, self._handed - self._dropped)  # the range handed last time
            self._dropped, self._handed = self._handed, self._written

    def close(self) -> None:
        os.close(self.fd)

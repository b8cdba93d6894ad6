"""StagedFile: hashing and writing in step, and a full disk reported as such."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest

from api.config import ApiConfig
from api.errors import ApiError
from api.staging import FLUSH_BYTES, StagedFile
from api.uploads import UploadReceiver, _Staged
from auteur.events import IdMaker
from auteur.settings import Settings


def chunks_of(data: bytes, size: int = 64 * 1024) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.anyio
async def test_bytes_and_hash_match_whatever_the_chunking(tmp_path):
    data = os.urandom(7 * FLUSH_BYTES + 12345)
    staged = StagedFile(tmp_path / "content")
    for chunk in chunks_of(data, 200_003):
        await staged.write(chunk)
    assert await staged.finish() == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "content").read_bytes() == data and staged.size == len(data)


@pytest.mark.anyio
async def test_the_lfs_copy_holds_the_same_bytes(tmp_path):
    data = os.urandom(3 * FLUSH_BYTES + 777)
    staged = StagedFile(tmp_path / "content", tmp_path / "object")
    for chunk in chunks_of(data, 300_007):
        await staged.write(chunk)
    assert await staged.finish() == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "content").read_bytes() == data == (tmp_path / "object").read_bytes()
    assert (tmp_path / "content").stat().st_ino != (tmp_path / "object").stat().st_ino


def test_a_copy_is_written_only_for_what_may_go_through_lfs(tmp_path):
    settings = Settings(specs=tmp_path / "specs", workspace=tmp_path / "workspace", large_file_bytes=1000)
    small, large = (UploadReceiver(ApiConfig(settings=settings), IdMaker(), "film", "audio", total=t) for t in (500, 5000))
    assert small._copy_for_lfs("take.wav") and not small._copy_for_lfs("notes.txt")
    assert large._copy_for_lfs("notes.txt")  # the body is over the threshold: the file may be


@pytest.mark.anyio
async def test_a_full_disk_surfaces_as_enospc(tmp_path):
    staged = StagedFile(tmp_path / "content")
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, staged.lanes[0].fd)  # every write now fails as on a full volume
    os.close(full)
    with pytest.raises(OSError) as caught:
        for chunk in chunks_of(os.urandom(8 * FLUSH_BYTES)):
            await staged.write(chunk)
        await staged.finish()
    assert caught.value.errno == errno.ENOSPC
    staged.abort()


@pytest.mark.anyio
async def test_the_receiver_answers_507_when_the_disk_fills(tmp_path):
    config = ApiConfig(settings=Settings(specs=tmp_path / "specs", workspace=tmp_path / "workspace"))
    receiver = UploadReceiver(config, IdMaker(), "film", "audio")
    staged_file = receiver._open_staging("0123456789a-0123456789ab", "a.wav")
    assert len(staged_file.lanes) == 2  # a media file on a volume without reflinks: its LFS copy too
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, staged_file.lanes[1].fd)  # the copy is the one that finds the disk full
    os.close(full)

    async def body():
        for chunk in chunks_of(os.urandom(4 * FLUSH_BYTES)):
            yield chunk

    staged = _Staged("0123456789a-0123456789ab", "a.wav", staged_file)
    receiver.staged.append(staged)
    with pytest.raises(ApiError) as caught:
        await receiver._stream_part(body(), staged)
    assert caught.value.status_code == 507
    receiver.discard(caught.value)
    assert list((config.settings.state / "uploads").iterdir()) == []

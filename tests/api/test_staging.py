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
async def test_a_full_disk_surfaces_as_enospc(tmp_path):
    staged = StagedFile(tmp_path / "content")
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, staged.fd)  # every write now fails as on a full volume
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
    staged_file = receiver._open_staging("0123456789a-0123456789ab")
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, staged_file.fd)
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

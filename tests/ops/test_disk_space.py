"""A volume that fills up, on a real small filesystem (a 48 MiB tmpfs the test mounts):
``/health`` turns ``degraded`` naming the disk, uploads that would go under the warning
threshold are refused with 507 before their body is stored, and a snapshot that cannot copy
media into the LFS store fails with a clear condition and goes through once there is room."""

from __future__ import annotations

import os
import subprocess

import httpx
import msgspec
import pytest
from helpers import RunningStack, git

from auteur.settings import Settings
from controller.reconciling import Reconciler

MiB = 1024 * 1024


@pytest.fixture
def volume(tmp_path):
    root = tmp_path / "volume"
    root.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(root)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a small tmpfs for the test (this needs root): {mounted.stderr.strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def fill_until(folder, free_left: int) -> None:
    """Write a filler file so that about ``free_left`` bytes stay free on the volume."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / "filler.bin", "wb") as out:
        out.write(b"\0" * max(0, free - free_left))


def test_health_and_uploads_know_the_disk_is_nearly_full(volume, tmp_path):
    settings = Settings(specs=tmp_path / "specs", workspace=volume / "workspace", settle_seconds=0.3, grace_seconds=0.3,
                        resync_seconds=3600, disk_warning_bytes=8 * MiB)  # fmt: skip
    with RunningStack(settings) as stack, httpx.Client(base_url=stack.api_url, timeout=60) as http:
        assert http.post("/api/v1/projects", json={"name": "film"}).status_code == 201
        health = http.get("/health").json()
        assert health["status"] == "healthy" and health["disk"].startswith("ok"), health
        stored = http.post(
            "/api/v1/projects/film/assets", params={"asset_type": "audio"}, files={"files": ("take.wav", os.urandom(4 * MiB))}
        )
        assert stored.status_code == 200, stored.text
        fill_until(volume, 6 * MiB)
        health = http.get("/health").json()
        assert health["status"] == "degraded" and "disk" in health["failing"] and health["disk"].startswith("low"), health
        refused = http.post("/api/v1/projects/film/assets", params={"asset_type": "audio"}, files={"files": ("b.wav", b"RIFF" * 256)})
        assert refused.status_code == 507 and "AUTEUR_DISK_WARNING_BYTES" in refused.json()["error"]["message"]
        # refused before the body was read: the only upload record is the first one's
        records = [p.read_text() for p in (settings.state / "uploads").glob("*.json")]
        assert len(records) == 1 and "take.wav" in records[0]
        (volume / "filler.bin").unlink()
        assert http.get("/health").json()["disk"].startswith("ok")


def test_a_snapshot_without_room_for_its_lfs_copy_fails_clearly_and_goes_through_later(volume, tmp_path):
    settings = Settings(specs=tmp_path / "specs", workspace=volume / "workspace", settle_seconds=0.0, grace_seconds=0.3,
                        resync_seconds=3600)  # fmt: skip
    settings.specs.mkdir()
    settings.workspace.mkdir()
    (settings.specs / "film.yaml").write_text("name: film\n")
    reconciler = Reconciler(settings)
    reconciler.reconcile("film")
    render = settings.workspace / "film" / "outputs" / "renders" / "final.mov"
    render.write_bytes(os.urandom(16 * MiB))
    os.utime(render, (1, 1))  # settled
    fill_until(volume, 4 * MiB)  # the file is in place; its copy into .git/lfs/objects has no room
    reconciler.reconcile("film")
    status = reconciler.status_of("film")
    assert status is not None and status.status.value == "failed"
    snapshot = next(c for c in status.conditions if c.type == "SnapshotFailed")
    assert snapshot.reason == "NoSpace" and "full" in snapshot.message, msgspec.to_builtins(snapshot)
    assert "final.mov" not in git(settings.workspace / "film", "log", "--name-only", "--format=")
    (volume / "filler.bin").unlink()
    reconciler.reconcile("film")
    assert reconciler.status_of("film").status.value == "ready"
    assert "outputs/renders/final.mov" in git(settings.workspace / "film", "log", "--name-only", "--format=")
    assert git(settings.workspace / "film", "lfs", "fsck").strip().endswith("OK")

"""Previews at scale: a thumbnail of a 4K PNG and a poster of a 1 GiB video, the peak RSS of
the job's process with its ffmpeg children, and the time each takes.

    .venv/bin/python bench/preview_bench.py            # 3840x2160 noise PNG, 1 GiB video
    .venv/bin/python bench/preview_bench.py --quick    # 1920x1080, 64 MiB

Both files are made with ffmpeg in a scratch folder under /var/tmp (noise, so they do not
compress away), committed by the real controller (the thumbnail is keyed by the committed
LFS oid), then each job runs in a process of its own as the worker runs it
(``worker.thumbnails.thumbnail``, ``worker.media.poster``, with the settings from the
environment). A sampler adds up the RSS of that process and all its children every 50 ms.
Baselines measured the same way in the same run: plain ffmpeg making the same picture with
its defaults (every thread), and Python reading the file whole (what a preview must never
do). The target is a peak of at most 200 MB for each job. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT

SAMPLE_SECONDS = 0.05
TARGET_MB = 200.0
MiB = 1 << 20


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *args], check=True)


def make_png(path: Path, size: str) -> None:
    """One frame of uniform noise over grey: a PNG that stays large (about 3 bytes a pixel)."""
    ffmpeg("-f", "lavfi", "-i", f"color=c=gray:s={size}:d=1,format=rgb24,noise=alls=100:allf=u", "-frames:v", "1",
           "-update", "1", "-y", str(path))  # fmt: skip


def make_video(path: Path, size_bytes: int, scratch: Path) -> None:
    """A noisy 1080p clip at a high bitrate, then looped (copied, not encoded again) until
    the file holds ``size_bytes``."""
    clip = scratch / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=25:d=8", "-vf", "noise=alls=40:allf=t", "-c:v", "mpeg4",
           "-q:v", "1", "-pix_fmt", "yuv420p", "-y", str(clip))  # fmt: skip
    ffmpeg("-stream_loop", "-1", "-i", str(clip), "-c", "copy", "-fs", str(size_bytes), "-y", str(path))
    clip.unlink()


def sample(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``command``; (seconds, peak RSS in MB of it and its children summed, its stdout)."""
    out = tempfile.TemporaryFile()
    started = time.monotonic()
    proc = psutil.Popen(command, env=env, stdout=out, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        total = 0
        try:
            for member in [proc, *proc.children(recursive=True)]:
                total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
        peak = max(peak, total)
        time.sleep(SAMPLE_SECONDS)
    elapsed = time.monotonic() - started
    out.seek(0)
    said = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:3]} exited with {proc.returncode}: {said[-500:]}")
    return elapsed, peak / 1e6, said


JOB = """import json, sys
from worker.jobs import resolve
print(json.dumps(resolve(sys.argv[1])(project_id=sys.argv[2], path=sys.argv[3])))
"""
READ_WHOLE = "import sys, pathlib; print(len(pathlib.Path(sys.argv[1]).read_bytes()))"


def measure(label: str, command: list[str], env: dict[str, str], runs: int, before=None) -> dict:
    times, peaks, said = [], [], ""
    for _ in range(runs):
        if before is not None:
            before()
        seconds, peak, said = sample(command, env)
        times.append(seconds)
        peaks.append(peak)
    row = {"what": label, "median_s": statistics.median(times), "peak_rss_mb": max(peaks), "runs": runs, "said": said.strip()[-200:]}
    print(f"{label:58s} median {row['median_s']:6.2f} s   peak RSS {row['peak_rss_mb']:7.1f} MB   ({runs} runs)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 1920x1080 PNG and a 64 MiB video")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the scratch folder")
    args = parser.parse_args()
    png_size, video_bytes = ("1920x1080", 64 * MiB) if args.quick else ("3840x2160", 1024 * MiB)

    base = Path(tempfile.mkdtemp(prefix="auteur-preview-bench-", dir="/var/tmp"))
    env = dict(os.environ, AUTEUR_SPECS=str(base / "specs"), AUTEUR_WORKSPACE=str(base / "workspace"), PYTHONPATH=str(ROOT))
    try:
        from auteur.settings import Settings
        from auteur.thumbnails import content_key, thumbnail_relpath
        from controller.reconciling import Reconciler

        settings = Settings(specs=base / "specs", workspace=base / "workspace", settle_seconds=0.0)
        settings.specs.mkdir(parents=True)
        (settings.specs / "bench.yaml").write_text("name: bench\n")
        assert Reconciler(settings).reconcile("bench").kind == "done"
        root = settings.workspace / "bench"
        image, video = "assets/storyboards/plate 4k.png", "outputs/renders/reel.mp4"

        started = time.monotonic()
        make_png(root / image, png_size)
        make_video(root / video, video_bytes, base)
        made = time.monotonic() - started
        started = time.monotonic()
        past = time.time() - 60
        for path in (image, video):
            os.utime(root / path, (past, past))
        assert Reconciler(settings).reconcile("bench").kind == "done"
        key = content_key(root, image)
        assert key is not None, "the controller did not commit the PNG"
        print(f"made the files in {made:.1f} s, committed them in {time.monotonic() - started:.1f} s: "
              f"{(root / image).stat().st_size / MiB:.1f} MiB PNG ({png_size}), {(root / video).stat().st_size / MiB:.0f} MiB "
              f"video", flush=True)  # fmt: skip

        thumb, poster = root / thumbnail_relpath(key), root / "temp/posters" / f"{video}.jpg"
        job = [sys.executable, "-c", JOB]
        rows = [
            measure("thumbnail job (worker.thumbnails.thumbnail)", [*job, "worker.thumbnails.thumbnail", "bench", image], env,
                    args.runs, before=lambda: thumb.unlink(missing_ok=True)),
            measure("thumbnail job again, cached by oid", [*job, "worker.thumbnails.thumbnail", "bench", image], env, args.runs),
            measure("baseline: ffmpeg alone, its defaults", ["ffmpeg", "-nostdin", "-v", "error", "-i", str(root / image), "-vf",
                    "scale=640:-2", "-frames:v", "1", "-y", str(base / "plain.jpg")], env, args.runs),
            measure("baseline: Python reading the PNG whole", [sys.executable, "-c", READ_WHOLE, str(root / image)], env, args.runs),
            measure("poster job (worker.media.poster)", [*job, "worker.media.poster", "bench", video], env, args.runs,
                    before=lambda: poster.unlink(missing_ok=True)),
            measure("baseline: ffmpeg alone, its defaults", ["ffmpeg", "-nostdin", "-v", "error", "-ss", "1", "-i", str(root / video),
                    "-vf", "scale=640:-2", "-frames:v", "1", "-y", str(base / "plain.jpg")], env, args.runs),
            measure("baseline: Python reading the video whole", [sys.executable, "-c", READ_WHOLE, str(root / video)], env, 1),
        ]  # fmt: skip
        for row in rows[:2] + rows[4:5]:
            status = json.loads(row["said"].splitlines()[-1])["status"]
            verdict = "within" if row["peak_rss_mb"] <= TARGET_MB else "OVER"
            print(f"  {row['what']}: status {status}, peak {row['peak_rss_mb']:.1f} MB, {verdict} the {TARGET_MB:.0f} MB target")
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Which preview the project page gives each asset (``web.pictures.preview_of``): a table."""

from __future__ import annotations

import pytest

from web.pictures import Preview, preview_of

ASSETS = "/api/v1/projects/my%20film/assets/"


@pytest.mark.parametrize(
    ("path", "kind", "picture", "viewable"),
    [
        ("assets/storyboards/shot 1.png", "image", "/api/v1/projects/my%20film/thumbnails/assets/storyboards/shot%201.png", True),
        ("assets/storyboards/KEY.JPG", "image", "/api/v1/projects/my%20film/thumbnails/assets/storyboards/KEY.JPG", True),
        ("outputs/renders/plate.0001.exr", "image", "/api/v1/projects/my%20film/thumbnails/outputs/renders/plate.0001.exr", False),
        ("assets/characters/hero.psd", "image", "/api/v1/projects/my%20film/thumbnails/assets/characters/hero.psd", False),
        ("outputs/renders/scan.dpx", "image", "/api/v1/projects/my%20film/thumbnails/outputs/renders/scan.dpx", False),
        ("assets/storyboards/CLIP.MP4", "video", "/api/v1/projects/my%20film/posters/assets/storyboards/CLIP.MP4", False),
        ("outputs/edits/cut.mov", "video", "/api/v1/projects/my%20film/posters/outputs/edits/cut.mov", False),
        ("outputs/renders/master.mxf", "poster", "/api/v1/projects/my%20film/posters/outputs/renders/master.mxf", False),
        ("assets/audio/take.wav", "audio", "", False),
        ("assets/audio/theme.m4a", "audio", "", False),
    ],
)
def test_each_asset_gets_its_preview(path, kind, picture, viewable):
    source = ASSETS + path.replace(" ", "%20")
    assert preview_of("my film", path) == Preview(kind, source, picture, viewable)


@pytest.mark.parametrize("path", ["assets/scripts/draft.fountain", "assets/scripts/notes.pdf", "assets/styles/look.svg",
                                  "assets/audio/take.aiff", "assets/storyboards/noext"])  # fmt: skip
def test_what_a_page_cannot_preview_gets_none(path):
    assert preview_of("my film", path) is None

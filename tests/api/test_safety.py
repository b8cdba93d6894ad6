"""No file a user stored ever runs as a page in the API's origin (``api.safety``): over real
HTTP, every answer carries ``nosniff`` and a sandboxing policy, and downloads are inline
only for images, video and audio. The real browser's side is ``tests/web/test_downloads.py``."""

from __future__ import annotations

import pytest

from api.safety import ATTACHMENT_TYPE, INLINE_POLICY, POLICY, content_disposition, served_as
from tests.api.test_assets import body, create_project, part, post_raw, wait_completed
from web.pictures import IMAGE_EXTENSIONS

ASSETS = "/api/v1/projects/film/assets/"
SCRIPTED_HTML = b"<!doctype html><title>film</title><script>document.title='PWNED'</script>"
SCRIPTED_SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>document.title="PWNED"</script></svg>'


@pytest.mark.parametrize(
    ("name", "content_type", "disposition"),
    [
        ("CLIP.MP4", "video/mp4", "inline"), ("take.mov", "video/quicktime", "inline"), ("a.webm", "video/webm", "inline"),
        ("a.mkv", "video/x-matroska", "inline"), ("mix.wav", "audio/wav", "inline"), ("a.flac", "audio/flac", "inline"),
        ("a.m4a", "audio/mp4", "inline"), ("frame.png", "image/png", "inline"), ("still.JPEG", "image/jpeg", "inline"),
        ("a.webp", "image/webp", "inline"), ("a.tif", "image/tiff", "inline"),
        ("page.html", ATTACHMENT_TYPE, "attachment"), ("page.HTM", ATTACHMENT_TYPE, "attachment"),
        ("a.xhtml", ATTACHMENT_TYPE, "attachment"), ("logo.svg", ATTACHMENT_TYPE, "attachment"),
        ("feed.xml", ATTACHMENT_TYPE, "attachment"), ("app.js", ATTACHMENT_TYPE, "attachment"),
        ("script.pdf", ATTACHMENT_TYPE, "attachment"), ("notes.txt", ATTACHMENT_TYPE, "attachment"),
        ("frame.exr", ATTACHMENT_TYPE, "attachment"), ("README", ATTACHMENT_TYPE, "attachment"),
        ("png", ATTACHMENT_TYPE, "attachment"), ("x.html.png", "image/png", "inline"), ("x.png.html", ATTACHMENT_TYPE, "attachment"),
    ],
)  # fmt: skip
def test_only_images_video_and_audio_are_inline(name, content_type, disposition):
    served = served_as(name)
    assert served.content_type == content_type
    assert served.disposition.split(";")[0] == disposition
    assert served.policy == (INLINE_POLICY if disposition == "inline" else POLICY)


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("take 1.wav", 'attachment; filename="take 1.wav"'),
        ("Amélie.txt", "attachment; filename=\"Am_lie.txt\"; filename*=UTF-8''Am%C3%A9lie.txt"),
        ("映画.txt", "attachment; filename=\"__.txt\"; filename*=UTF-8''%E6%98%A0%E7%94%BB.txt"),
        ('say "hi"\\.txt', "attachment; filename=\"say _hi__.txt\"; filename*=UTF-8''say%20%22hi%22%5C.txt"),
        ("100%.txt", "attachment; filename=\"100_.txt\"; filename*=UTF-8''100%25.txt"),
    ],
)
def test_the_filename_reaches_every_browser_exactly(name, header):
    assert content_disposition("attachment", name) == header


def test_every_picture_the_gallery_shows_is_served_inline_as_an_image():
    for extension in IMAGE_EXTENSIONS:
        served = served_as(f"a.{extension}")
        assert served.content_type.startswith("image/") and served.disposition.startswith("inline"), extension


def assert_hardened(answer, policy: str = POLICY) -> None:
    assert answer.headers["x-content-type-options"] == "nosniff", (answer.request.method, answer.request.url)
    assert answer.headers["content-security-policy"] == policy, (answer.request.method, answer.request.url)


def test_every_kind_of_answer_carries_nosniff_and_the_policy(stack, client):
    create_project(client)
    origin = stack.config.origins()[0]
    answers = [
        client.get("/api/v1/projects"),
        client.get("/api/v1/projects/film"),
        client.get("/api/v1/projects/nope"),  # 404 of a resource
        client.get("/no/such/route"),  # 404 of the router
        client.put("/api/v1/projects"),  # 405
        client.post("/api/v1/projects", content=b"{", headers={"Content-Type": "application/json"}),  # 400
        client.get("/api/v1/events"),  # a plain GET on the WebSocket
        client.options("/api/v1/projects", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}),
        client.options("/api/v1/projects/film/assets/assets/audio/x.wav"),
        client.get(ASSETS + "assets/audio/missing.wav"),
        client.get("/health"),
        client.get("/health/live"),
        client.get("/metrics"),
        client.get("/openapi.json"),
    ]
    assert answers[7].headers["access-control-allow-origin"] == origin  # the preflight was answered as one
    assert {a.status_code for a in answers} >= {200, 400, 404, 405}
    for answer in answers:
        assert_hardened(answer)


def upload(stack, client, *files: tuple[str, bytes], asset_type: str = "styles") -> None:
    answer = post_raw(client, "film", body(*(part(name, data) for name, data in files)), asset_type=asset_type)
    assert answer.status_code == 200, answer.text
    wait_completed(stack, answer.json()["uploads"])


def test_an_uploaded_page_or_svg_comes_back_as_an_attachment_of_octet_stream(stack, client):
    create_project(client)
    upload(stack, client, ("page.html", SCRIPTED_HTML), ("logo.svg", SCRIPTED_SVG), ("Amélie.htm", SCRIPTED_HTML))
    for name, data in (("page.html", SCRIPTED_HTML), ("logo.svg", SCRIPTED_SVG)):
        for answer in (client.get(ASSETS + f"assets/styles/{name}"), client.head(ASSETS + f"assets/styles/{name}")):
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/octet-stream"
            assert answer.headers["content-disposition"] == f'attachment; filename="{name}"'
            assert_hardened(answer)
        assert client.get(ASSETS + f"assets/styles/{name}").content == data
    accented = client.get(ASSETS + "assets/styles/Am%C3%A9lie.htm")
    assert accented.headers["content-disposition"] == "attachment; filename=\"Am_lie.htm\"; filename*=UTF-8''Am%C3%A9lie.htm"
    assert accented.headers["content-type"] == "application/octet-stream"


def test_images_and_video_stay_inline_with_their_type_ranges_and_revalidation(stack, client):
    root = stack.settings.workspace / create_project(client)
    picture, clip = b"\x89PNG\r\n\x1a\n" + bytes(200), bytes(range(256)) * 64
    upload(stack, client, ("frame.png", picture), ("shot 1.mp4", clip), asset_type="storyboards")
    image = client.get(ASSETS + "assets/storyboards/frame.png")
    assert (image.status_code, image.headers["content-type"], image.content) == (200, "image/png", picture)
    assert image.headers["content-disposition"] == 'inline; filename="frame.png"'
    assert_hardened(image, INLINE_POLICY)

    url = ASSETS + "assets/storyboards/shot%201.mp4"
    ranged = client.get(url, headers={"Range": "bytes=1000-1999"})
    assert (ranged.status_code, ranged.headers["content-type"], ranged.content) == (206, "video/mp4", clip[1000:2000])
    assert ranged.headers["content-range"] == f"bytes 1000-1999/{len(clip)}"
    assert ranged.headers["content-disposition"] == 'inline; filename="shot 1.mp4"'
    assert_hardened(ranged, INLINE_POLICY)
    cached = client.get(url, headers={"If-None-Match": ranged.headers["etag"]})
    assert (cached.status_code, cached.content) == (304, b"")
    assert_hardened(cached, INLINE_POLICY)
    beyond = client.get(url, headers={"Range": f"bytes={len(clip)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(clip)}"
    assert_hardened(beyond)  # an error, not the file: the policy of every answer
    assert (root / "assets/storyboards/shot 1.mp4").read_bytes() == clip

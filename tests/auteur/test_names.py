import hashlib
import unicodedata

import pytest

from auteur.names import InvalidName, check_name, project_id


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("My Film", "my-film"),
        ("my-film", "my-film"),
        ("Amélie", "amelie"),
        ("  x", "x"),
        ("shot_010 (v2)", "shot-010-v2"),
        ("A.B.C", "a-b-c"),
    ],
)
def test_ids_of_latin_names(name, expected):
    assert project_id(name) == expected


def test_non_latin_names_get_a_hash_suffix():
    digest = hashlib.sha256("映画".encode()).hexdigest()[:8]
    assert project_id("映画") == f"p-{digest}"
    mixed = project_id("Film 映画")
    assert mixed.startswith("film-") and len(mixed) == len("film-") + 8
    assert project_id("映画") != project_id("映像")


def test_nfc_and_nfd_spellings_share_an_id():
    nfd = unicodedata.normalize("NFD", "Amélie")
    assert nfd != "Amélie"
    assert project_id(nfd) == project_id("Amélie")
    assert check_name(nfd) == "Amélie"


@pytest.mark.parametrize(
    "name",
    ["a", "A" * 100, "é" * 100, "映" * 66, "Film 2", "x.y", "a_b-c d", "Ωmega"],
)
def test_valid_names(name):
    assert check_name(name) == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "required"),
        ("A" * 101, "characters"),
        ("映" * 67, "bytes"),
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("-film", "start"),
        (".film", "start"),
        (" film", "start"),
        ("film.", "end"),
        ("film ", "end"),
        ("a..b", "'..'"),
        ("a*b", "'*'"),
        ("a:b", "':'"),
    ],
)
def test_invalid_names_say_why(name, why):
    with pytest.raises(InvalidName, match=why):
        check_name(name)

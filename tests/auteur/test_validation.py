"""auteur.validation: msgspec's errors as (field, message), one table for every struct people write."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec
import pytest

from auteur.validation import explain_validation


class Colour(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Inner(msgspec.Struct, forbid_unknown_fields=True):
    size: int


class Body(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    colour: Colour = Colour.RED
    note: Annotated[str, msgspec.Meta(max_length=3)] = ""
    inner: Inner | None = None


CASES = [
    # (raw value, expected field, expected message)
    ({"name": "a", "flavour": 1}, "flavour", "unknown field 'flavour' (allowed: name, colour, note, inner)"),
    ({}, "name", "name is required"),
    ({"name": None}, "name", "name is required"),
    ({"name": "a", "note": None}, "note", "note may not be null (leave it out for the default)"),
    ({"name": "a", "colour": "green"}, "colour", "Invalid enum value 'green'; expected one of red, blue"),
    ({"name": "a", "note": "long"}, "note", "Expected `str` of length <= 3"),
    ({"name": 5}, "name", "Expected `str`, got `int`"),
    ({"name": "a", "inner": {"size": "x"}}, "inner.size", "Expected `int`, got `str`"),
    ([1], None, "Expected `object`, got `array`"),
]


@pytest.mark.parametrize(("raw", "field", "message"), CASES)
def test_each_error_names_its_field_and_problem(raw, field, message):
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert(raw, Body)
    assert explain_validation(caught.value, Body) == (field, message)


def test_without_the_type_the_message_still_names_the_field():
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert({"name": "a", "flavour": 1}, Body)
    assert explain_validation(caught.value) == ("flavour", "unknown field 'flavour'")
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert({"name": "a", "colour": "green"}, Body)
    assert explain_validation(caught.value) == ("colour", "Invalid enum value 'green'")

import pytest

from auteur.specs import Quality, SpecError, decode_spec


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("my-film.yaml", b"name: my-film\nquality: premium\n"),
        ("my-film.yml", b"name: my-film\nquality: premium\n"),
        ("my-film.json", b'{"name": "my-film", "quality": "premium"}'),
        ("my-film.toml", b'name = "my-film"\nquality = "premium"\n'),
    ],
)
def test_every_format_parses_to_the_same_spec(filename, data):
    spec = decode_spec(data, filename)
    assert spec.name == "my-film" and spec.quality is Quality.PREMIUM
    assert spec.generation() == decode_spec(b"name: my-film\nquality: premium\n", "my-film.yaml").generation()


def test_defaults_and_generation_ignores_formatting():
    a = decode_spec(b"name: f\n", "f.yaml")
    b = decode_spec(b"# comment\nname:   f\nquality: standard\n", "f.yaml")
    assert a.quality is Quality.STANDARD and a.description == ""
    assert a.generation() == b.generation()
    assert decode_spec(b"name: f\nquality: draft\n", "f.yaml").generation() != a.generation()


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (b"name: f\nqualty: draft\n", "qualty", "unknown field"),
        (b"name: f\nquality: ultra\n", "quality", "Invalid enum value 'ultra'"),
        (b"quality: draft\n", "name", "required"),
        (b"name: f\ndescription: 5\n", "description", "Expected `str`"),
        (b"name: f\ndescription:\n", "description", "may not be null"),
        (b"name: f\nqualty: draft\n", "qualty", "(allowed: name, quality, description, suspend)"),
        (b"name: f\nquality: ultra\n", "quality", "expected one of draft, standard, premium"),
        (b"name: g\n", "name", "does not match the file name"),
        (b"name: [unclosed\n", None, "cannot be parsed"),
        (b"- just\n- a list\n", None, "mapping"),
        (b"name: 'f/..'\n", "name", "Invalid name"),
    ],
)
def test_bad_specs_name_file_field_and_problem(data, field, fragment):
    with pytest.raises(SpecError) as info:
        decode_spec(data, "f.yaml")
    assert info.value.file == "f.yaml"
    assert info.value.field == field
    assert fragment in info.value.problem
    assert "f.yaml" in str(info.value)


def test_oversized_spec_is_rejected():
    with pytest.raises(SpecError, match="larger"):
        decode_spec(b"name: f\ndescription: " + b"x" * 70_000 + b"\n", "f.yaml")

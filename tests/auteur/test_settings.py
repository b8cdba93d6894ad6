"""auteur.settings: the environment through msgspec.convert(strict=False), errors by variable name."""

from __future__ import annotations

from pathlib import Path

import pytest

from auteur.settings import Settings, SettingsError, env_name, from_env


def test_defaults_are_designs_with_absolute_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = from_env({})
    assert settings.specs == tmp_path / "specs" and settings.workspace == tmp_path / "workspace"
    assert settings.redis_url is None and settings.api_port == 8000 and settings.web_port == 3000
    assert settings.public_api_url == "http://localhost:8000"
    defaults = Settings()
    for field in ("resync_seconds", "settle_seconds", "grace_seconds", "trash_retention_seconds", "large_file_bytes", "workers",
                  "worker_heartbeat_seconds", "api_host", "cors_origins"):  # fmt: skip
        assert getattr(settings, field) == getattr(defaults, field), field


def test_values_are_converted_to_their_types(tmp_path):
    settings = from_env({
        "AUTEUR_SPECS": str(tmp_path / "s"), "AUTEUR_WORKSPACE": "relative/ws", "REDIS_URL": "redis://r:6379/0",
        "AUTEUR_API_PORT": "8001", "AUTEUR_RESYNC_SECONDS": "2.5", "AUTEUR_LARGE_FILE_BYTES": "1024", "AUTEUR_WORKERS": "8",
        "AUTEUR_API_URL": "https://films.example", "AUTEUR_CORS_ORIGINS": "http://a.example, http://b.example,",
        "AUTEUR_API_HOST": "127.0.0.1", "UNRELATED": "x",
    })  # fmt: skip
    assert settings.specs == tmp_path / "s" and settings.workspace == Path("relative/ws").absolute()
    assert (settings.redis_url, settings.api_port, settings.resync_seconds) == ("redis://r:6379/0", 8001, 2.5)
    assert (settings.large_file_bytes, settings.workers, settings.api_host) == (1024, 8, "127.0.0.1")
    assert settings.public_api_url == "https://films.example"
    assert settings.cors_origins == ("http://a.example", "http://b.example")


def test_an_empty_variable_counts_as_unset():
    settings = from_env({"REDIS_URL": "", "AUTEUR_API_PORT": "", "AUTEUR_SETTLE_SECONDS": ""})
    assert (settings.redis_url, settings.api_port, settings.settle_seconds) == (None, 8000, 2.0)


def test_the_worker_heartbeat_is_at_least_a_second():
    assert from_env({"AUTEUR_WORKER_HEARTBEAT_SECONDS": "0"}).worker_heartbeat_seconds == 1


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("AUTEUR_API_PORT", "80x", "Expected `int`, got `str`"),
        ("AUTEUR_WEB_PORT", "3000.5", "Expected `int`, got `str`"),
        ("AUTEUR_RESYNC_SECONDS", "soon", "Expected `float`, got `str`"),
        ("AUTEUR_LARGE_FILE_BYTES", "10MiB", "Expected `int`, got `str`"),
        ("AUTEUR_WORKER_HEARTBEAT_SECONDS", "ten", "Expected `int`, got `str`"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable, value, problem):
    with pytest.raises(SettingsError) as caught:
        from_env({variable: value, "AUTEUR_WORKERS": "2"})
    assert str(caught.value) == f"{variable}={value!r}: {problem}"


def test_a_default_git_author_that_is_no_identity_is_refused_naming_its_variable():
    assert from_env({"AUTEUR_GIT_AUTHOR": "Studio Bot <bot@studio.example>"}).git_author == "Studio Bot <bot@studio.example>"
    with pytest.raises(SettingsError) as caught:
        from_env({"AUTEUR_GIT_AUTHOR": "robot"})
    assert str(caught.value) == "AUTEUR_GIT_AUTHOR: 'robot' is not a git identity of the form 'Name <email>'"


def test_every_setting_has_its_variable():
    assert env_name("api_port") == "AUTEUR_API_PORT" and env_name("redis_url") == "REDIS_URL"
    names = {env_name(f) for f in Settings.__struct_fields__}
    assert {"AUTEUR_SPECS", "AUTEUR_WORKSPACE", "REDIS_URL", "AUTEUR_API_PORT", "AUTEUR_WEB_PORT", "AUTEUR_API_URL",
            "AUTEUR_CORS_ORIGINS"} <= names  # DESIGN.md's table  # fmt: skip

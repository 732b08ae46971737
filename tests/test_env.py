"""Settings from the environment: the typed readers, DATABASE_URL, and production's refusal to guess."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from portal.env import PREPARE_THRESHOLD, database_from_url, env_bool, env_int, env_list, env_str, persistent_secret

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR = "PORTAL_TEST_VALUE"


@pytest.fixture(autouse=True)
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    monkeypatch.delenv("DATABASE_CONN_MAX_AGE", raising=False)
    monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS", raising=False)


# --- env_bool, env_int, env_list, env_str ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
    ],
)
def test_env_bool_reads_the_usual_spellings(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    monkeypatch.setenv(VAR, raw)

    assert env_bool(VAR, default=not value) is value


@pytest.mark.parametrize("default", [True, False])
def test_env_bool_unset_gives_the_default(default: bool) -> None:
    assert env_bool(VAR, default) is default


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "yes please"])
def test_env_bool_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(VAR, raw)

    with pytest.raises(ImproperlyConfigured) as exc:
        env_bool(VAR)

    assert VAR in str(exc.value)
    assert repr(raw) in str(exc.value)


@pytest.mark.parametrize(("raw", "value"), [("42", 42), (" 7 ", 7), ("-3", -3), ("0", 0)])
def test_env_int_reads_a_whole_number(monkeypatch: pytest.MonkeyPatch, raw: str, value: int) -> None:
    monkeypatch.setenv(VAR, raw)

    assert env_int(VAR, 99) == value


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_env_int_unset_or_blank_gives_the_default(monkeypatch: pytest.MonkeyPatch, raw: str | None) -> None:
    if raw is not None:
        monkeypatch.setenv(VAR, raw)

    assert env_int(VAR, 99) == 99


@pytest.mark.parametrize("raw", ["ten", "1.5", "10s"])
def test_env_int_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(VAR, raw)

    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_int(VAR, 1)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("a.example.com", ["a.example.com"]),
        ("a.example.com, b.example.com ,", ["a.example.com", "b.example.com"]),
        (" , ,", []),
        ("", []),
    ],
)
def test_env_list_splits_on_commas_and_drops_blanks(
    monkeypatch: pytest.MonkeyPatch, raw: str, value: list[str]
) -> None:
    monkeypatch.setenv(VAR, raw)

    assert env_list(VAR, ["default"]) == value


def test_env_list_unset_gives_a_copy_of_the_default() -> None:
    default = ["localhost"]

    value = env_list(VAR, default)
    value.append("changed")

    assert env_list(VAR) == []
    assert default == ["localhost"]
    assert env_list(VAR, default) == ["localhost"]


def test_env_str_strips_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_str(VAR, "fallback") == "fallback"
    monkeypatch.setenv(VAR, "  value \n")
    assert env_str(VAR, "fallback") == "value"


# --- database_from_url -------------------------------------------------------------------------------


def test_sqlite_url_with_a_relative_path() -> None:
    config = database_from_url("sqlite:///var/portal.sqlite3")

    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "var/portal.sqlite3"


def test_sqlite_url_with_an_absolute_path() -> None:
    config = database_from_url("sqlite:////srv/portal/var/portal.sqlite3")

    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "/srv/portal/var/portal.sqlite3"


def test_sqlite_url_path_is_unquoted() -> None:
    assert database_from_url("sqlite:////srv/my%20portal/db.sqlite3")["NAME"] == "/srv/my portal/db.sqlite3"


def test_sqlite_url_without_a_path_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="needs a file path"):
        database_from_url("sqlite://")


def test_postgres_url_with_user_password_port_and_options() -> None:
    config = database_from_url(
        "postgres://portal:s%40cret%2Fpw@DB.example.com:6432/bots?sslmode=require&connect_timeout=5"
    )

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "bots"
    assert config["USER"] == "portal"
    assert config["PASSWORD"] == "s@cret/pw"
    assert config["HOST"] == "db.example.com"
    assert config["PORT"] == "6432"
    assert config["OPTIONS"] == {
        "sslmode": "require",
        "connect_timeout": "5",
        "server_side_binding": True,
        "prepare_threshold": PREPARE_THRESHOLD,
    }
    assert config["CONN_MAX_AGE"] == 60
    assert config["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pgsql", "PostgreSQL"])
def test_postgres_url_schemes_and_defaults(scheme: str) -> None:
    config = database_from_url(f"{scheme}://localhost/portal")

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["HOST"], config["PORT"]) == ("portal", "localhost", "")
    assert (config["USER"], config["PASSWORD"]) == ("", "")
    assert config["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": PREPARE_THRESHOLD}


def test_prepared_statements_can_be_turned_off_for_a_pooler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "false")

    assert database_from_url("postgres://localhost/portal?sslmode=require")["OPTIONS"] == {"sslmode": "require"}


def test_postgres_connection_age_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_CONN_MAX_AGE", "0")

    assert database_from_url("postgres://localhost/portal")["CONN_MAX_AGE"] == 0


@pytest.mark.parametrize("url", ["postgres://localhost", "postgres://localhost/", "postgres://u:p@h:5432/"])
def test_postgres_url_without_a_database_name_is_refused(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="needs a database name"):
        database_from_url(url)


@pytest.mark.parametrize("url", ["mysql://localhost/portal", "portal.sqlite3", "redis://localhost/0"])
def test_database_url_with_an_unsupported_scheme_is_refused(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="is not supported"):
        database_from_url(url)


# --- persistent_secret -------------------------------------------------------------------------------


def test_persistent_secret_without_a_file_and_without_generating_raises(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"

    with pytest.raises(ImproperlyConfigured) as exc:
        persistent_secret(path, generate=False, name="SECRET_KEY")

    assert "SECRET_KEY is required when DEBUG is off" in str(exc.value)
    assert not path.exists()


def test_persistent_secret_is_generated_into_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret_key"

    value = persistent_secret(path, generate=True, name="SECRET_KEY")

    assert len(value) >= 50
    assert path.read_text() == value
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_persistent_secret_is_the_same_on_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    first = persistent_secret(path, generate=True, name="SECRET_KEY")

    assert persistent_secret(path, generate=True, name="SECRET_KEY") == first
    assert persistent_secret(path, generate=False, name="SECRET_KEY") == first


def test_persistent_secret_uses_the_factory(tmp_path: Path) -> None:
    path = tmp_path / "encryption_key"

    value = persistent_secret(
        path, generate=True, name="PORTAL_ENCRYPTION_KEY", factory=lambda: Fernet.generate_key().decode()
    )

    Fernet(value.encode())
    assert path.read_text() == value


def test_two_generated_secrets_differ(tmp_path: Path) -> None:
    first = persistent_secret(tmp_path / "a", generate=True, name="SECRET_KEY")
    second = persistent_secret(tmp_path / "b", generate=True, name="SECRET_KEY")

    assert first != second


# --- production settings, in a fresh interpreter --------------------------------------------------------


def production_env(var_dir: Path, **values: str) -> dict[str, str]:
    """Only what a production start gets: no inherited SECRET_KEY, DEBUG or keys of this test run."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "bots.example.com",
        "PORTAL_VAR_DIR": str(var_dir),
    }
    return env | values


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


SETUP = ["-c", "import django; django.setup()"]


def test_production_settings_refuse_to_start_without_secret_key(tmp_path: Path) -> None:
    result = run(SETUP, production_env(tmp_path, PORTAL_ENCRYPTION_KEY=Fernet.generate_key().decode()))

    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_settings_refuse_to_start_without_encryption_key(tmp_path: Path) -> None:
    result = run(SETUP, production_env(tmp_path, SECRET_KEY=secrets.token_urlsafe(45)))

    assert result.returncode != 0
    assert "PORTAL_ENCRYPTION_KEY is required" in result.stderr
    assert not (tmp_path / "encryption_key").exists()


def test_production_settings_refuse_to_start_without_allowed_hosts(tmp_path: Path) -> None:
    env = production_env(
        tmp_path, SECRET_KEY=secrets.token_urlsafe(45), PORTAL_ENCRYPTION_KEY=Fernet.generate_key().decode()
    )
    del env["ALLOWED_HOSTS"]

    result = run(SETUP, env)

    assert result.returncode != 0
    assert "ALLOWED_HOSTS is required" in result.stderr


def test_production_settings_start_with_everything_given(tmp_path: Path) -> None:
    env = production_env(
        tmp_path, SECRET_KEY=secrets.token_urlsafe(45), PORTAL_ENCRYPTION_KEY=Fernet.generate_key().decode()
    )

    result = run(SETUP, env)

    assert result.returncode == 0, result.stderr


def test_deploy_checklist_is_clean_with_production_settings(tmp_path: Path) -> None:
    secret_key = secrets.token_urlsafe(45)
    assert len(secret_key) == 60
    env = production_env(tmp_path, SECRET_KEY=secret_key, PORTAL_ENCRYPTION_KEY=Fernet.generate_key().decode())
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        if os.environ.get(name):
            env[name] = os.environ[name]

    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode == 0, result.stdout + result.stderr

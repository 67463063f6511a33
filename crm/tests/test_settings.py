import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DJANGO_ENV",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "DATABASE_URL",
            "REDIS_URL",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_ENV": "production", "ALLOWED_HOSTS": "crm.example.com"}, "SECRET_KEY"),
        (
            {
                "DJANGO_ENV": "production",
                "ALLOWED_HOSTS": "crm.example.com",
                "SECRET_KEY": "dev-insecure-connector-crm-secret-key-change-me-in-production",
            },
            "SECRET_KEY",
        ),
        ({"DJANGO_ENV": "production", "SECRET_KEY": "x" * 60}, "ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_to_start_without_secrets(env, message):
    result = _check(env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_passes_deploy_checks():
    result = _check(
        {
            "DJANGO_ENV": "production",
            "SECRET_KEY": "k" * 30 + "9Q!x" * 8,
            "ALLOWED_HOSTS": "crm.example.com",
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout

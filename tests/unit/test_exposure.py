"""Serving beyond loopback needs real secrets (issue 14, item 4)."""

import pytest
from click.testing import CliRunner

from topproducts.errors import ConfigError
from topproducts.exposure import check_bind, is_loopback
from topproducts.settings import Settings

SET = Settings(api_key="a-real-key", mysql_password="a-real-password")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.3", "::1", "[::1]", "localhost"])
def test_loopback_serves_with_the_local_defaults(host: str) -> None:
    assert is_loopback(host)
    check_bind(Settings(), host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "shop.example.com"])
def test_elsewhere_is_not_loopback(host: str) -> None:
    assert not is_loopback(host)
    check_bind(SET, host)  # both secrets set: fine


def test_default_api_key_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^refusing to serve the API on 0\.0\.0\.0 .*"
                                          r"set TOPPRODUCTS_API_KEY$"):
        check_bind(SET.replace(api_key=Settings().api_key), "0.0.0.0")


def test_default_mysql_password_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"set TOPPRODUCTS_MYSQL_PASSWORD$"):
        check_bind(SET.replace(mysql_password=Settings().mysql_password), "10.0.0.5")


def test_both_defaults_name_both_in_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        check_bind(Settings(), "0.0.0.0", "the Dagster UI")
    message = str(info.value)
    assert "\n" not in message
    assert "TOPPRODUCTS_API_KEY and TOPPRODUCTS_MYSQL_PASSWORD are still" in message
    assert message.startswith("refusing to serve the Dagster UI on 0.0.0.0")


def test_api_command_refuses_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from topproducts import cli as cli_module
    from topproducts.settings import get_settings

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(k))
    get_settings.cache_clear()
    monkeypatch.delenv("TOPPRODUCTS_API_KEY", raising=False)
    monkeypatch.delenv("TOPPRODUCTS_MYSQL_PASSWORD", raising=False)
    try:
        result = CliRunner().invoke(cli_module.cli, ["api", "--host", "0.0.0.0"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0 and not served
    assert isinstance(result.exception, ConfigError)
    assert "TOPPRODUCTS_API_KEY" in str(result.exception)

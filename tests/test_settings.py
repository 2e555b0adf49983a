"""The settings module is the one reader of the environment, and the README's table says what it reads."""
import re
from pathlib import Path

import pytest

from handlers.settings import VARIABLES, ConfigError, Settings, server_value

README = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")


def _readme_rows() -> dict[str, tuple[str, str]]:
    table = README[README.index("| variable | meaning | default |"):]
    table = table[:table.index("\n\n")]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_readme_configuration_table_lists_every_variable_with_its_default_and_help():
    rows = _readme_rows()
    assert list(rows) == [variable.name for variable in VARIABLES]
    for variable in VARIABLES:
        assert rows[variable.name] == (variable.help, variable.default), variable.name


def test_no_module_but_settings_reads_the_environment():
    package = Path(__file__).resolve().parent.parent / "handlers"
    readers = []
    for path in package.rglob("*.py"):
        if "testing" in path.parts or path.name == "settings.py":
            continue
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text("utf-8")):
            readers.append(str(path.relative_to(package)))
    assert readers == []


def test_every_variable_reaches_its_setting():
    env = {"WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": "a",
           "OPTOUT_CONFIG_POLL_SECONDS": "2.5", "OPTOUT_SECRET_KEY": "cookie-key",
           "OPTOUT_MAX_BODY_BYTES": "1000", "PROMETHEUS_MULTIPROC_DIR": "/tmp/m", "OPTOUT_RECORD_ANONYMIZE": "0"}
    settings = Settings.from_env(env)
    assert (settings.config_poll_seconds, settings.session_key, settings.max_body_bytes, settings.metrics_dir,
            settings.record_anonymize) == (2.5, "cookie-key", 1000, "/tmp/m", False)
    assert server_value("OPTOUT_WORKERS", 2, {"OPTOUT_WORKERS": "4"}) == 4
    assert server_value("OPTOUT_BIND", "127.0.0.1:8000", {}) == "127.0.0.1:8000"


def test_a_number_that_is_not_one_names_its_variable():
    with pytest.raises(ConfigError, match="OPTOUT_CONFIG_POLL_SECONDS must be a number"):
        Settings.from_env({"OPTOUT_DEV_MODE": "1", "OPTOUT_CONFIG_POLL_SECONDS": "soon"})


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_send_timeout_must_be_positive(value):
    """Every send would fail at once, spending the replies' attempts."""
    with pytest.raises(ConfigError, match="OPTOUT_SEND_TIMEOUT_SECONDS must be more than 0"):
        Settings.from_env({"OPTOUT_DEV_MODE": "1", "OPTOUT_SEND_TIMEOUT_SECONDS": value})

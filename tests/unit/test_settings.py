"""Environment configuration: upstream defaults, tolerant forms, and clear errors for nonsense."""

from __future__ import annotations

from pathlib import Path

import pytest

from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.resolve import registry_url_for
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.uri import ModelRef


def test_defaults_are_upstreams() -> None:
    settings = Settings.from_env({})
    assert (settings.base_url, settings.scheme) == ("localhost:8080", "http")
    assert (settings.service_name, settings.cluster_domain) == ("model-registry-service", "svc.cluster.local")
    assert settings.allow_archived is False


def test_full_url_in_base_url_supplies_the_scheme() -> None:
    settings = Settings.from_env({"MODEL_REGISTRY_BASE_URL": "https://mr.example:8443/"})
    assert (settings.scheme, settings.base_url) == ("https", "mr.example:8443")


def test_namespace_uses_service_name_domain_and_base_port() -> None:
    env = {"MODEL_REGISTRY_BASE_URL": "mr:9090", "MODEL_REGISTRY_SERVICE_NAME": "reg", "MODEL_REGISTRY_SCHEME": "https"}
    url = registry_url_for(ModelRef("iris", namespace="team"), Settings.from_env(env))
    assert url == "https://reg.team.svc.cluster.local:9090"


def test_namespace_without_port_in_base_url_uses_8080() -> None:
    url = registry_url_for(ModelRef("iris", namespace="team"), Settings.from_env({"MODEL_REGISTRY_BASE_URL": "mr"}))
    assert url == "http://model-registry-service.team.svc.cluster.local:8080"


def test_host_in_uri_wins_over_base_url() -> None:
    url = registry_url_for(ModelRef("iris", host="other:1"), Settings.from_env({"MODEL_REGISTRY_BASE_URL": "mr:2"}))
    assert url == "http://other:1"


def test_paths_and_flags_are_read() -> None:
    settings = Settings.from_env(
        {
            "MODEL_REGISTRY_TOKEN_PATH": "/var/run/token",
            "MODEL_REGISTRY_CA_BUNDLE": "/etc/ca.pem",
            "MODEL_REGISTRY_ALLOW_ARCHIVED": "True",
            "MODEL_REGISTRY_TIMEOUT": "7.5",
        }
    )
    assert settings.token_path == Path("/var/run/token")
    assert settings.ca_bundle == Path("/etc/ca.pem")
    assert settings.allow_archived is True
    assert settings.timeout == 7.5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODEL_REGISTRY_SCHEME": "ftp"}, "MODEL_REGISTRY_SCHEME='ftp' must be http or https"),
        ({"MODEL_REGISTRY_BASE_URL": "mr/path"}, "must be HOST[:PORT]"),
        ({"MODEL_REGISTRY_ALLOW_ARCHIVED": "maybe"}, "MODEL_REGISTRY_ALLOW_ARCHIVED='maybe' must be true or false"),
        ({"MODEL_REGISTRY_TIMEOUT": "soon"}, "MODEL_REGISTRY_TIMEOUT='soon' must be a number of seconds"),
        ({"MODEL_REGISTRY_TIMEOUT": "-1"}, "must be a number of seconds, more than 0 and at most 86400"),
        ({"MODEL_REGISTRY_TRANSFER": "warp"}, "MODEL_REGISTRY_TRANSFER='warp' must be one of auto, fast, kserve"),
    ],
)
def test_bad_settings_are_usage_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=r".*") as caught:
        Settings.from_env(env)
    assert message in caught.value.message


def test_an_ipv6_registry_address_is_written_in_brackets() -> None:
    settings = Settings.from_env({"MODEL_REGISTRY_BASE_URL": "[fd00::10]:8080"})
    assert (settings.base_url, settings.base_port()) == ("[fd00::10]:8080", "8080")
    assert Settings.from_env({"MODEL_REGISTRY_BASE_URL": "https://[fd00::10]/"}).base_url == "[fd00::10]"
    with pytest.raises(UsageError, match=r"in brackets, such as \[fd00::10\]:8080"):
        Settings.from_env({"MODEL_REGISTRY_BASE_URL": "fd00::10:8080"})

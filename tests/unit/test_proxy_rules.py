"""Go's proxy rules (golang.org/x/net/http/httpproxy), applied by proxy.ProxyConfig to every URL."""

from __future__ import annotations

import pytest

from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.proxy import ProxyConfig
from mr_storage_initializer.settings import Settings

PROXY = "http://proxy.corp:3128"


def config(**env: str) -> ProxyConfig:
    return ProxyConfig.from_env(env)


def test_https_urls_take_HTTPS_PROXY_and_http_urls_HTTP_PROXY() -> None:
    cfg = config(HTTPS_PROXY="http://secure:1", HTTP_PROXY="http://plain:2")
    assert cfg.for_url("https://example.com/x") == "http://secure:1"
    assert cfg.for_url("http://example.com/x") == "http://plain:2"
    assert config(HTTP_PROXY=PROXY).for_url("https://example.com/") is None  # Go: no fallback across schemes


def test_upper_case_names_come_before_lower_case_ones() -> None:
    cfg = config(HTTPS_PROXY="http://upper:1", https_proxy="http://lower:2", NO_PROXY="a.com", no_proxy="b.com")
    assert cfg.for_url("https://x.com") == "http://upper:1"
    assert cfg.for_url("https://a.com") is None
    assert cfg.for_url("https://b.com") == "http://upper:1"
    assert config(https_proxy="http://lower:2").for_url("https://x.com") == "http://lower:2"


def test_a_proxy_without_scheme_is_http_and_the_port_defaults() -> None:
    assert config(HTTPS_PROXY="proxy.corp:3128").https_proxy == "http://proxy.corp:3128"
    assert config(HTTPS_PROXY="https://proxy.corp").https_proxy == "https://proxy.corp:443"
    assert config(HTTP_PROXY="http://[fd00::1]:8080").http_proxy == "http://[fd00::1]:8080"


@pytest.mark.parametrize("value", ["socks5://proxy:1080", "http://", "ftp://proxy:21"])
def test_an_unusable_proxy_is_exit_2_at_start(value: str) -> None:
    with pytest.raises(UsageError, match="HTTPS_PROXY"):
        Settings.from_env({"HTTPS_PROXY": value})


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/",
        "https://LOCALHOST/",
        "http://127.0.0.1/",
        "http://127.9.9.9:80/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_loopback_and_localhost_are_never_proxied(url: str) -> None:
    assert config(HTTPS_PROXY=PROXY, HTTP_PROXY=PROXY).for_url(url) is None


@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        ("example.com", "https://example.com/", True),
        ("example.com", "https://a.example.com/", True),
        ("example.com", "https://notexample.com/", False),
        (".example.com", "https://example.com/", False),
        (".example.com", "https://a.b.example.com/", True),
        ("*.example.com", "https://a.example.com/", True),
        ("*.example.com", "https://example.com/", False),
        ("*", "https://anything.org/", True),
        ("10.0.0.5", "http://10.0.0.5:9000/", True),
        ("10.0.0.0/8", "http://10.20.30.40/", True),
        ("10.0.0.0/8", "http://11.0.0.1/", False),
        ("fd00::/8", "http://[fd00::10]:8080/", True),
        ("[fd00::10]:8080", "http://[fd00::10]:8080/", True),
        ("[fd00::10]:9090", "http://[fd00::10]:8080/", False),
        ("example.com:443", "https://example.com/", True),
        ("example.com:8443", "https://example.com/", False),
        ("EXAMPLE.com, .svc ,", "http://registry.ns.svc:8080/", True),
        (".svc,.cluster.local", "http://registry.ns.svc.cluster.local:8080/", True),
    ],
)
def test_no_proxy_follows_go(no_proxy: str, url: str, direct: bool) -> None:
    cfg = config(HTTPS_PROXY=PROXY, HTTP_PROXY=PROXY, NO_PROXY=no_proxy)
    assert (cfg.for_url(url) is None) is direct


def test_credentials_become_a_header_and_are_never_shown() -> None:
    cfg = config(HTTPS_PROXY="http://us%40er:s3cr%3At-pass@proxy.corp:3128")
    bare, headers = ProxyConfig.without_userinfo(cfg.https_proxy)
    assert bare == "http://proxy.corp:3128"
    assert headers == {"Proxy-Authorization": "Basic dXNAZXI6czNjcjp0LXBhc3M="}  # us@er:s3cr:t-pass
    assert "s3cr%3At-pass" not in ProxyConfig.shown(cfg.https_proxy)
    assert "s3cr%3At-pass" not in repr(cfg)
    from mr_storage_initializer.redact import redact_text

    assert redact_text("proxy said s3cr:t-pass and s3cr%3At-pass") == "proxy said *** and ***"  # registered as secrets


def test_libraries_that_read_the_environment_see_one_answer() -> None:
    env = config(HTTPS_PROXY="http://upper:1", https_proxy="http://lower:2", no_proxy=".corp").environment()
    assert env["HTTPS_PROXY"] == env["https_proxy"] == "http://upper:1"
    assert env["NO_PROXY"] == env["no_proxy"] == ".corp,localhost,127.0.0.0/8,::1"
    assert config().environment() == {}
    settings = Settings.from_env({"https_proxy": "proxy:3128", "HTTP_PROXY": "x:1"})
    assert settings.storage_env["HTTPS_PROXY"] == "http://proxy:3128"
    assert settings.storage_env["http_proxy"] == "http://x:1"


def test_obstore_gets_the_decision_not_the_environment() -> None:
    cfg = config(HTTPS_PROXY=PROXY, HTTP_PROXY=PROXY, NO_PROXY=".internal")
    assert cfg.obstore_options("https://s3.us-east-1.amazonaws.com") == {"proxy_url": PROXY}
    assert cfg.obstore_options("http://127.0.0.1:9000") == {"proxy_url": PROXY, "proxy_excludes": "127.0.0.1"}
    assert cfg.obstore_options("http://[::1]:9000") == {"proxy_url": PROXY, "proxy_excludes": "::1"}
    assert cfg.obstore_options("http://minio.internal:9000") == {"proxy_url": PROXY, "proxy_excludes": "minio.internal"}
    assert config().obstore_options("http://minio:9000") == {}

"""The one strict reading of a URL (urls.py): what it accepts, every parser reads alike; the rest is refused."""

from __future__ import annotations

import errno
import logging
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mr_storage_initializer import urls
from mr_storage_initializer.errors import StorageError, UsageError, destination_errno
from mr_storage_initializer.logs import LibraryErrorsAreWarnings

ACCEPTED = [
    ("http://127.0.0.1:8080/m/model.bin", "127.0.0.1", 8080),
    ("https://user:p%40ss@files.example.test/m.bin", "files.example.test", None),
    ("http://[::1]:9000/x", "::1", 9000),
    ("http://[::ffff:a9fe:a9fe]/x", "::ffff:a9fe:a9fe", None),
    ("https://Models.Example.TEST./a/b?X-Amz-Signature=s&b=%20", "models.example.test", None),
    ("s3://my_bucket.v2/key/with/@/and:colon", "my_bucket.v2", None),
    ("gs://bucket", "bucket", None),
    ("http://h.example.test/my model.bin?q=a b", "h.example.test", None),  # a space in a path or query: one reading
    ("hf://org/repo:main", "org", None),
    ("oci://registry.example.test:5000/repo/model@sha256:ab", "registry.example.test", 5000),
]

REFUSED = [
    ("http://169.254.169.254:19120\\@127.0.0.1:19121/x.bin", "backslash"),
    ("http://127.0.0.1\\@169.254.169.254/x", "backslash"),
    ("http://h/a\\..\\b", "backslash"),
    ("http://a@b@127.0.0.1/x", "more than one '@'"),
    ("http://us er@h/x", "white space"),
    ("http://h/x\n", "control"),
    (" http://h/x", "white space"),
    ("http://h\t/x", "control"),
    ("http://h/a\tb", "control"),
    ("http://h /x", "white space"),
    ("http://h/x ", "white space"),
    ("http://h/x#frag", "fragment"),
    ('http://u"x@h/x', "user info"),
    ("http://2852039166/x", "ends in a number"),
    ("http://0xa9.0xfe.0xa9.0xfe/x", "ends in a number"),
    ("http://127.1/x", "ends in a number"),
    ("http://[fe80::1%25eth0]/x", "zone id"),
    ("http://[::1/x", "closing ']'"),
    ("http://h:0/x", "port"),
    ("http://h:99999/x", "port"),
    ("http://h:/x", "port"),
    ("http://h:8o/x", "port"),
    ("http://bücher.example/x", "not ASCII"),
    ("http://h%2e/x", "not a plain DNS name"),
    ("http://exa_mple!.com/x", "not a plain DNS name"),
    ("s3:///key", "names no bucket"),
    ("http:///x", "names no host"),
    ("s3:/bad", "SCHEME://"),
]


@pytest.mark.parametrize(("url", "host", "port"), ACCEPTED)
def test_an_accepted_url_reads_the_same_to_every_parser(url: str, host: str, port: int | None) -> None:
    from urllib3.util import parse_url

    read = urls.read(url)
    assert (read.host, read.port) == (host, port)
    assert (urlsplit(url).hostname or "").rstrip(".") == host
    assert (parse_url(url).host or "").strip("[]").lower().rstrip(".") == host
    assert urlsplit(url).port == port == parse_url(url).port


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_a_url_two_parsers_could_read_differently_is_refused(url: str, why: str) -> None:
    with pytest.raises(urls.UrlProblem) as caught:
        urls.read(url)
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("path", "segment"),
    [
        ("/good/../evil", ".."),
        ("/good/./x", "."),
        ("/good/%2e%2E/evil", "%2e%2E"),
        ("/good/.%2e/evil", ".%2e"),
        ("/good/..", ".."),
        ("/a\\..\\b", ".."),
        ("/good/..x/evil", None),
        ("/good/.hidden", None),
        ("/good/%252e%252e/x", None),  # decoded once by a server: '%2e%2e', a name
    ],
)
def test_dot_segments_are_found_also_encoded(path: str, segment: str | None) -> None:
    assert urls.dot_segment(path) == segment


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("s3://b/good/../evil/model.bin", "'..' segment"),
        ("gs://b/./model.bin", "'.' segment"),
        ("https://h/good/%2e%2e/evil", "'%2e%2e' segment"),
        ("gopher://x/y", "no engine serves the scheme gopher://"),
        ("S3://b/k", "no engine serves the scheme S3://"),
        ("not a uri", "nor an existing local path"),
        ("s3:/bad", "needs '://'"),
        ("/mnt/pvc/not-there", "nor an existing local path"),
        ("http://h/", "names no file"),
        ("http://h", "names no file"),
        ("s3://b/m?endpoint=http://e:9000", None),
        ("s3://b/my model/v1.bin", None),  # a key with a space: both engines read it alike
        ("file:///etc/hostname", None),
        ("hdfs:///models/m", None),
        ("https://acct.blob.core.windows.net/c/m", None),
    ],
)
def test_artifact_problems(uri: str, problem: str | None) -> None:
    found = urls.artifact_problem(uri)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_an_existing_local_path_is_an_artifact_but_not_with_dot_segments(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    assert urls.artifact_problem(str(tmp_path / "m")) is None
    assert "'..' segment" in (urls.artifact_problem(f"{tmp_path}/m/../m") or "")


def test_every_scheme_is_one_row() -> None:
    assert set(urls.SCHEMES) == {"s3", "gs", "hf", "http", "https", "hdfs", "webhdfs", "modelscope", "oci", "file"}
    assert all(name == row.name for name, row in urls.SCHEMES.items())


# -- errors say the right thing (items 1 and 9) --------------------------------------------------------
def test_an_ssl_error_is_never_a_destination_errno() -> None:
    """``ssl.SSLCertVerificationError`` is an OSError with errno 1 (EPERM), about the connection."""
    try:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        except ssl.SSLError as inner:
            raise ConnectionError("HTTPSConnectionPool(host='registry'): Max retries exceeded") from inner
    except ConnectionError as outer:
        assert destination_errno(outer) is None
    assert destination_errno(PermissionError(errno.EPERM, "Operation not permitted")) == errno.EPERM


@pytest.mark.parametrize(("name", "shown"), [("storage.initializer", "WARNING"), ("oras", "WARNING")])
def test_a_library_error_record_is_a_warning(name: str, shown: str) -> None:
    record = logging.LogRecord(name, logging.ERROR, __file__, 1, "HTTP error", None, None)
    assert LibraryErrorsAreWarnings().filter(record)
    assert (record.levelno, record.levelname) == (logging.WARNING, shown)
    ours = logging.LogRecord("mr_storage_initializer", logging.ERROR, __file__, 1, "failed", None, None)
    LibraryErrorsAreWarnings().filter(ours)
    assert ours.levelname == "ERROR"


def test_a_rust_panic_in_an_engine_is_a_storage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real obstore panic (a BaseException) ends as exit 5, never as an unexpected traceback."""
    import obstore
    from obstore.store import S3Store

    from mr_storage_initializer import transfer
    from mr_storage_initializer.settings import Settings

    class Panicking:
        name = "fast"
        revision = None

        def download(self, uri: str, dest: Path) -> str:
            store = S3Store(
                "b",
                config={"endpoint": "http://127.0.0.1:9\\@127.0.0.1:9", "access_key_id": "a", "secret_access_key": "b"},
                client_options={"allow_http": True},
            )
            obstore.head(store, "k")
            return self.name

    monkeypatch.setattr(transfer, "select_engine", lambda uri, settings, hooks: Panicking())
    with pytest.raises(StorageError) as caught:
        transfer.download("s3://b/k", tmp_path, Settings())
    assert caught.value.exit_code == 5
    assert "the storage library refused its input" in caught.value.message
    assert transfer.is_panic(caught.value.__cause__)  # type: ignore[arg-type]


# -- item 10: AWS_EC2_METADATA_DISABLED in the own engine -------------------------------------------------
def test_metadata_disabled_without_another_credential_source_is_a_clear_error() -> None:
    from mr_storage_initializer.transfer.s3 import store_options

    with pytest.raises(StorageError) as caught:
        store_options({"AWS_EC2_METADATA_DISABLED": "True", "HOME": "/nonexistent"})
    assert "no S3 credentials: AWS_EC2_METADATA_DISABLED=true" in caught.value.message


@pytest.mark.parametrize(
    "source",
    [
        {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
        {"awsAnonymousCredential": "true"},
        {"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"},
        {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials"},
        {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds"},
    ],
)
def test_metadata_disabled_with_another_credential_source_is_fine(source: dict[str, str]) -> None:
    from mr_storage_initializer.transfer.s3 import store_options

    store_options({"AWS_EC2_METADATA_DISABLED": "true", "HOME": "/nonexistent", **source})


def test_an_ambiguous_endpoint_never_reaches_obstore() -> None:
    from mr_storage_initializer.transfer.s3 import store_options

    with pytest.raises(UsageError):
        store_options({"AWS_ENDPOINT_URL": "http://169.254.169.254:1\\@127.0.0.1:2", "awsAnonymousCredential": "true"})


# -- the policy uses the reading --------------------------------------------------------------------------
def test_the_policy_says_whose_uri_is_malformed() -> None:
    from mr_storage_initializer.errors import ArtifactRefusedError, RedirectRefusedError
    from mr_storage_initializer.policy import check_artifact, check_endpoint, check_redirect

    bad = "http://169.254.169.254:1\\@127.0.0.1:2/x.bin"
    with pytest.raises(ArtifactRefusedError):  # the registry's: exit 3
        check_artifact(bad, ())
    with pytest.raises(UsageError):  # the user's SOURCE_URI: exit 2
        check_artifact(bad, (), from_registry=False)
    with pytest.raises(UsageError):
        check_endpoint("http://a\\@127.0.0.1:9000", "AWS_ENDPOINT_URL", from_registry=False)
    with pytest.raises(RedirectRefusedError) as caught:
        check_redirect("file:///etc/passwd")
    assert "follows only http(s), not file://" in caught.value.message


BENT = "http://169.254.169.254:1\\@127.0.0.1:2"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AWS_ENDPOINT_URL": BENT}, "AWS_ENDPOINT_URL"),
        ({"STORAGE_CONFIG": '{"type": "s3", "endpoint_url": "http://a@b@127.0.0.1"}'}, "STORAGE_CONFIG"),
        ({"STORAGE_OVERRIDE_CONFIG": '{"endpoint_url": "http://127.0.0.1 :9000"}'}, "STORAGE_OVERRIDE_CONFIG"),
        ({"HF_ENDPOINT": BENT}, "HF_ENDPOINT"),
        ({"STORAGE_EMULATOR_HOST": BENT}, "STORAGE_EMULATOR_HOST"),
    ],
)
def test_a_user_endpoint_read_two_ways_is_a_usage_error_at_start(env: dict[str, str], named: str) -> None:
    from mr_storage_initializer.settings import Settings

    with pytest.raises(UsageError) as caught:
        Settings.from_env(env)
    assert named in caught.value.message


def test_a_storage_config_entry_endpoint_read_two_ways_is_a_usage_error() -> None:
    from mr_storage_initializer.options import load_entries
    from mr_storage_initializer.storage_config import plan

    entries = load_entries(
        {"MR_STORAGE_CONFIG_conn": f'{{"type": "s3", "endpoint_url": "{BENT}"}}'.replace("\\", "\\\\")},
        "MR_STORAGE_CONFIG_",
        None,
    )
    with pytest.raises(UsageError) as caught:
        plan("s3://b/k", storage_key="conn", storage_path=None, entries=entries, looked="", env={})
    assert "storage-config entry 'conn'" in caught.value.message

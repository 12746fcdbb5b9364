"""Redacting teacher URLs: userinfo and secret query parameters out, everything else exactly as written."""

from __future__ import annotations

import pytest

from tvd.teachers.urls import UNSHOWN, is_secret_param, mask_secrets, redact_url, url_secrets


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "https://api.openai.com/v1/",
        "http://[::1]:8000/v1",
        "https://x.openai.azure.com/openai/deployments/d?api-version=2024-02-01",
        "http://h/v1?a=1&&b&c=%20+x",  # odd but harmless queries are kept byte for byte
        "127.0.0.1:8000",  # not a URL, nothing secret in it: shown as given (the caller's check says why)
    ],
)
def test_a_url_without_secrets_is_unchanged(url: str) -> None:
    assert redact_url(url) == url  # cache fingerprints built from it keep their keys
    assert url_secrets(url) == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:sk-pass@host:8000/v1", "http://***@host:8000/v1"),
        ("https://ghp_TOKEN1234@host/v1", "https://***@host/v1"),  # a bare user name is often the token
        ("http://u%40x:p%3Aw@host/v1", "http://***@host/v1"),
        ("http://h/v1?api_key=sk-1&api-version=2", "http://h/v1?api_key=***&api-version=2"),
        ("http://h/v1?API-KEY=a&Token=b&key=c&sig=d", "http://h/v1?API-KEY=***&Token=***&key=***&sig=***"),
        (
            "https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=ab&X-Amz-Security-Token=t&x=1",
            "https://b.s3.amazonaws.com/o?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***&x=1",
        ),
        (
            "http://h/?access_token=a&password=b&secret=c&auth=d",
            "http://h/?access_token=***&password=***&secret=***&auth=***",
        ),
        (
            "http://h/?x-api-key=a&client_secret=b&db_password=c",
            "http://h/?x-api-key=***&client_secret=***&db_password=***",
        ),
        ("http://u:p@h/v1?api_key=k#frag", "http://***@h/v1?api_key=***#frag"),
    ],
)
def test_userinfo_and_secret_parameters_are_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_string_that_does_not_parse_but_may_hold_a_secret_is_not_shown() -> None:
    for url in ("http://[::1", "ftp//user:secret@host", "host/v1?api_key=secret"):
        assert redact_url(url) == UNSHOWN
        assert url_secrets(url) == [url]


def test_secret_parameter_names() -> None:
    assert all(is_secret_param(n) for n in ("api_key", "Api-Key", "apikey", "X-Amz-Signature", "my_token", "api%5Fkey"))
    assert not any(is_secret_param(n) for n in ("api-version", "model", "keys", "tokenizer", "format"))


def test_secrets_are_masked_in_free_text_as_written_and_decoded() -> None:
    url = "http://alice:p%40ss-word@h/v1?api_key=sk%2Bkey&x=1"
    secrets = url_secrets(url)
    assert {"alice", "p%40ss-word", "p@ss-word", "sk%2Bkey", "sk+key"} <= set(secrets)
    text = "401 for alice:p@ss-word, key sk+key (sent as sk%2Bkey) at http://alice:p%40ss-word@h/v1"
    masked = mask_secrets(text, secrets)
    assert not any(secret in masked for secret in secrets) and "401 for" in masked
    assert mask_secrets("a b", url_secrets("http://a:b@h/")) == "a b"  # too short to mask: no garbling

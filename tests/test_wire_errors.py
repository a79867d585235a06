"""Error responses become typed errors with the provider's own words, never the raw body and
never the API key (in the message, the repr, the run result or the logs)."""

from __future__ import annotations

import json
import logging

import pytest

from helpers import FAKE_KEY, make_agent, make_route, run_async
from replay_server import Reply, fixture_names, load_fixture

from loomex_cli import (AuthError, BadRequestError, ConnectError, ContextLengthError,
                        NotFoundError, ProviderError, RateLimitError, RetryPolicy, ServerError,
                        StreamError, arun)
from loomex_cli.wire import client
from loomex_cli.wire.assemble import Assembler
from loomex_cli.wire.errors import error_for_status, extract_message, redact

ERRORS = [n for n in fixture_names() if load_fixture(n)["status"] != 200]
CLASS_FOR = {400: BadRequestError, 401: AuthError, 404: NotFoundError, 429: RateLimitError}
KEY_TAIL = FAKE_KEY[-8:]


def _provider_message(body: str) -> str:
    """The provider's message, read by hand from the recorded error body."""
    err = json.loads(body)["error"]
    msg = err["message"]
    raw = (err.get("metadata") or {}).get("raw")
    return f"{msg}: {raw}" if raw else msg


def _no_key(*texts: str) -> None:
    for t in texts:
        assert FAKE_KEY not in t
        assert KEY_TAIL not in t


def _call(url: str, stream: bool = True):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}

    async def go():
        return await client.chat(make_route(url), body, Assembler(provider="test"))
    return run_async(go)


def test_error_recordings_present(fixtures_dir):
    assert len(ERRORS) == 7


@pytest.mark.parametrize("name", ERRORS)
def test_error_recording_is_typed(name, replay, fixtures_dir, caplog):
    fx = load_fixture(name)
    sname, url = replay.new_script([Reply.fixture(name)], prefix=name)
    caplog.set_level(logging.DEBUG)
    agent = make_agent(url, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ProviderError) as ei:
        run_async(lambda: arun(agent, "hi"))
    e = ei.value
    assert type(e) is CLASS_FOR[fx["status"]]
    assert e.status == fx["status"]
    assert e.message == _provider_message(fx["body"])
    note = f" ({e.note})" if e.note else ""
    assert str(e) == f"test: HTTP {fx['status']}: {e.message}{note}"
    if fx["status"] in (401, 403):  # where the key came from, never the key
        assert e.note and "key" in e.note and FAKE_KEY not in str(e)
    # the provider's words, not the body
    assert fx["body"].strip() not in str(e)
    for field in ('"error"', "user_id", "failed_generation", "invalid_request_error", "{"):
        assert field not in str(e)
    assert len(replay.requests(sname)) == 1  # max_attempts=1; 4xx are never retried anyway
    assert replay.requests(sname)[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    _no_key(str(e), repr(e), repr(e.args), json.dumps(e.result.to_dict()), caplog.text,
            repr(agent), repr(make_route(url)))
    assert e.result.finish_reason == "error"


def test_exit_codes_and_kinds():
    from loomex_cli.cli.exits import code_for
    from loomex_cli.errors import ConfigError, LoomexError, StoreError, UnknownConversation
    assert code_for(AuthError("x")) == 4 and AuthError("x").kind == "auth"
    assert code_for(NotFoundError("x")) == 3 and code_for(ConfigError("x")) == 3
    assert code_for(RateLimitError("x")) == 6
    assert code_for(ContextLengthError("x")) == 5 and code_for(ServerError("x")) == 5
    assert code_for(StoreError("x")) == 1 and code_for(UnknownConversation("x")) == 2
    assert code_for(LoomexError("x")) == 1 and code_for(ValueError("x")) == 1
    # the errors carry no exit code: the CLI alone decides them
    assert not any(hasattr(c, "exit_code") for c in (AuthError, StoreError, LoomexError))
    assert error_for_status(400, "This model's maximum context length is 8192 tokens").__class__ \
        is ContextLengthError
    assert error_for_status(400, "x", code="context_length_exceeded").__class__ is ContextLengthError
    assert type(error_for_status(403, "x")) is AuthError
    assert type(error_for_status(502, "x")) is ServerError
    assert error_for_status(503, "x").retryable and not error_for_status(501, "x").retryable
    assert type(error_for_status(422, "x")) is BadRequestError


def test_429_recording_is_retried_then_raised(replay, fixtures_dir):
    name = "openrouter-429-upstream-rate-limited"
    sname, url = replay.new_script([Reply.fixture(name)], prefix="429", repeat_last=True)
    agent = make_agent(url)  # 3 attempts, ~10 ms apart
    events: list = []
    with pytest.raises(RateLimitError) as ei:
        run_async(lambda: arun(agent, "hi", sink=events.append))
    assert len(replay.requests(sname)) == 3
    assert [ev.attempt for ev in events if ev.type == "retrying"] == [1, 2]
    assert "temporarily rate-limited upstream" in ei.value.message


def test_key_echoed_by_provider_is_redacted(replay, caplog):
    caplog.set_level(logging.DEBUG)
    body = {"error": {"message": f"Incorrect API key provided: {FAKE_KEY}. Or maybe "
                                 f"...{KEY_TAIL}?", "code": "invalid_api_key"}}
    sname, url = replay.new_script([Reply.json(body, status=401)], prefix="echo-key")
    with pytest.raises(AuthError) as ei:
        run_async(lambda: arun(make_agent(url), "hi"))
    e = ei.value
    assert "Incorrect API key provided: ***" in e.message
    assert e.code == "invalid_api_key"
    _no_key(str(e), repr(e), repr(e.args), json.dumps(e.result.to_dict()), caplog.text)
    assert len(replay.requests(sname)) == 1


def test_key_echoed_in_stream_error_is_redacted(replay):
    sse = (f'data: {{"choices":[{{"index":0,"delta":{{"content":"hi"}}}}]}}\n\n'
           f'event: error\ndata: {{"error":{{"message":"bad key {FAKE_KEY}","status_code":401}}}}\n\n')
    _, url = replay.new_script([Reply.sse(sse)], prefix="echo-key-sse")
    with pytest.raises(AuthError) as ei:
        _call(url)
    _no_key(str(ei.value), repr(ei.value))
    assert ei.value.after_output


def test_html_error_page_is_not_dumped(replay):
    page = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>" + "x" * 5000 + \
        "</body></html>\n"
    sname, url = replay.new_script(
        [Reply(status=502, headers={"content-type": "text/html"}, pieces=[page.encode()])],
        prefix="html502")
    with pytest.raises(ServerError) as ei:
        _call(url)
    assert ei.value.message == "502 Bad Gateway"  # the page's title, not its first line
    assert "xxxx" not in str(ei.value)


def test_non_json_success_body(replay):
    _, url = replay.new_script(
        [Reply(status=200, headers={"content-type": "application/json"}, pieces=[b"not json"])],
        prefix="notjson")
    with pytest.raises(StreamError, match="not valid JSON"):
        _call(url, stream=False)


def test_empty_stream_is_an_error(replay):
    _, url = replay.new_script([Reply.sse(": keep-alive\n\n")], prefix="empty")
    with pytest.raises(StreamError, match="no usable data"):
        _call(url)


def test_unreachable_host_is_connect_error():
    # a port nothing listens on
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectError) as ei:
        _call(f"http://127.0.0.1:{port}/v1")
    assert ei.value.retryable
    assert "127.0.0.1" in str(ei.value)


def test_extract_message_shapes():
    assert extract_message({"error": "plain"}) == ("plain", None)
    assert extract_message({"message": "top"}) == ("top", None)
    assert extract_message([{"error": {"message": "in list", "code": 7}}]) == ("in list", 7)
    assert extract_message({"detail": "d"}) == ("d", None)
    assert extract_message(b"Bad Gateway\nmore", "x") == ("Bad Gateway", None)
    assert extract_message({"error": {"message": "m", "type": "t"}}) == ("m", "t")
    long = extract_message({"error": {"message": "y" * 2000}})[0]
    assert len(long) == 500 and long.endswith("…")


def test_redact():
    assert redact(f"key={FAKE_KEY}", FAKE_KEY) == "key=***"
    assert redact(f"tail {KEY_TAIL}", FAKE_KEY) == "tail ***"
    assert redact("short", "abc") == "short"

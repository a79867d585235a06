"""The SSE parser on the shapes real servers send (the property tests cover arbitrary splits)."""

from __future__ import annotations

import pytest

from loomex_cli.wire.sse import SSEParser


def parse(*pieces: bytes) -> list[tuple[str | None, bytes]]:
    p = SSEParser()
    out = []
    for piece in pieces:
        out += p.feed(piece)
    return out + p.close()


def test_plain_events():
    assert parse(b"data: a\n\ndata: b\n\n") == [(None, b"a"), (None, b"b")]


def test_events_complete_only_at_the_blank_line():
    p = SSEParser()
    assert p.feed(b"data: a\n") == []
    assert p.feed(b"\n") == [(None, b"a")]
    assert p.feed(b"data: b") == []
    assert p.feed(b"\n\n") == [(None, b"b")]
    assert p.close() == []


def test_comments_and_keepalives_are_skipped():
    body = b": OPENROUTER PROCESSING\n\n:\n\ndata: x\n: mid-event comment\n\n"
    assert parse(body) == [(None, b"x")]


def test_event_names():
    body = b"event: error\ndata: {\"e\":1}\n\ndata: next\n\n"
    assert parse(body) == [("error", b'{"e":1}'), (None, b"next")]


def test_event_name_without_data_does_not_leak():
    assert parse(b"event: ping\n\ndata: x\n\n") == [(None, b"x")]


def test_multi_line_data_is_joined():
    assert parse(b"data: one\ndata: two\ndata:three\n\n") == [(None, b"one\ntwo\nthree")]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol):
    body = (b"data: a" + eol + eol + b": c" + eol + b"event: error" + eol + b"data: b" + eol + eol)
    assert parse(body) == [(None, b"a"), ("error", b"b")]


def test_crlf_split_between_reads():
    assert parse(b"data: a\r", b"\n\r", b"\n") == [(None, b"a")]
    assert parse(b"data: a\r", b"\r") == [(None, b"a")]  # CR-only framing
    assert parse(b"data: a\r\n\r", b"\ndata: b\r\n\r\n") == [(None, b"a"), (None, b"b")]


def test_body_starting_with_white_space():
    assert parse(b" data: x\n\n") == [(None, b"x")]


def test_last_event_without_blank_line():
    assert parse(b"data: a\n\ndata: b") == [(None, b"a"), (None, b"b")]
    assert parse(b"data: a\n\ndata: b\n") == [(None, b"a"), (None, b"b")]


def test_id_and_retry_fields_are_ignored():
    assert parse(b"id: 7\nretry: 1000\ndata: a\n\n") == [(None, b"a")]


def test_field_without_colon_and_without_space():
    assert parse(b"data\n\n") == [(None, b"")]
    assert parse(b"data:x\n\n") == [(None, b"x")]
    assert parse(b"data:  two spaces\n\n") == [(None, b" two spaces")]


def test_multibyte_utf8_split_across_reads():
    raw = "data: {\"c\":\"Olá 😊\"}\n\n".encode()
    cut = raw.index("😊".encode()) + 2
    assert parse(raw[:cut], raw[cut:]) == [(None, '{"c":"Olá 😊"}'.encode())]


def test_done_is_passed_through():
    assert parse(b"data: [DONE]\n\n") == [(None, b"[DONE]")]


def test_blank_lines_alone_yield_nothing():
    assert parse(b"\n\n\n\r\n\r\n") == []
    assert parse(b"") == []


def test_a_long_line_is_held_in_pieces_and_joined_once():
    """Linear reading: the reads of an unfinished line are kept apart (never re-joined on
    each read, which made a 40 MB line take 16 s), then joined when the line ends."""
    p = SSEParser()
    assert p.feed(b'data: {"x":"') == []
    for _ in range(100):
        assert p.feed(b"a" * 1000) == []
    assert len(p._buf) == len(b'data: {"x":"') and len(p._more) == 100  # nothing re-copied
    assert p.feed(b'"}\n\n') == [(None, b'{"x":"' + b"a" * 100_000 + b'"}')]
    assert p._more == []


@pytest.mark.parametrize("eol", [b"\r", b"\r\n", b"\n"])
def test_a_held_line_ends_at_any_line_end(eol):
    assert parse(b"data: a", b"bc", b"d" + eol + eol, b"data: e") == [(None, b"abcd"), (None, b"e")]
    # a CR ending a read, then a read with no line end: the CR ended the line
    assert parse(b"data: a", b"b\r", b"\rdata: c", b"d") == [(None, b"ab"), (None, b"cd")]


def test_a_line_over_the_cap_raises_whether_split_or_whole(monkeypatch):
    from loomex_cli.wire import sse
    monkeypatch.setattr(sse, "MAX_LINE", 100)
    p = SSEParser()
    p.feed(b"data: " + b"a" * 50)
    with pytest.raises(sse.LineTooLong, match="over"):
        p.feed(b"a" * 60)
    p = SSEParser()
    p.feed(b"data: " + b"a" * 200)  # one read over the cap: refused with the next one
    with pytest.raises(sse.LineTooLong):
        p.feed(b"a")
    # a read over the cap made of short lines is fine
    many = b"".join(b"data: %d\n\n" % i for i in range(30))
    assert len(SSEParser().feed(many)) == 30

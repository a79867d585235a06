"""Property-based tests: however the network splits a valid stream into reads, the SSE parser
and the chunk assembler give the same result as when the stream is fed whole. The streams are
the real recorded bodies, also with CRLF and CR line ends substituted, plus generated ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Recorder, is_stream_fixture, reference_sse
from replay_server import fixture_names, load_fixture

from loomex_cli.wire.assemble import Assembler
from loomex_cli.wire.client import _read_stream
from loomex_cli.wire.errors import ProviderError
from loomex_cli.wire.sse import SSEParser

STREAMS = [n for n in fixture_names() if load_fixture(n)["status"] == 200
           and is_stream_fixture(load_fixture(n))]
EOLS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _body(name: str, eol: str) -> bytes:
    text = load_fixture(name)["body"]
    if eol != "\n":
        text = text.replace("\n", eol)  # JSON escapes its own newlines: only framing changes
    return text.encode()


_BODIES: dict[tuple[str, str], bytes] = {}


def body(name: str, eol: str) -> bytes:
    key = (name, eol)
    if key not in _BODIES:
        _BODIES[key] = _body(name, EOLS[eol])
    return _BODIES[key]


def split(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(raw) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(raw[last:p])
        last = p
    out.append(raw[last:])
    return out


def parse_all(pieces: list[bytes]) -> list[tuple[str | None, bytes]]:
    p = SSEParser()
    out = []
    for piece in pieces:
        out += p.feed(piece)
    return out + p.close()


cuts_strategy = st.lists(st.integers(min_value=0, max_value=2**20), max_size=40)


# -- the SSE parser ----------------------------------------------------------------------

@pytest.mark.parametrize("eol", sorted(EOLS))
@pytest.mark.parametrize("name", STREAMS)
def test_parser_whole_matches_reference(name, eol, fixtures_dir):
    """Fed whole (and one byte at a time), the parser reads what the reference reading reads."""
    raw = body(name, eol)
    whole = parse_all([raw])
    ref = [(ev, data.encode()) for ev, data in reference_sse(load_fixture(name)["body"])]
    assert whole == ref
    assert parse_all([raw[i:i + 1] for i in range(len(raw))]) == whole


@SETTINGS
@given(data=st.data())
def test_parser_any_split_equals_whole(data, fixtures_dir):
    name = data.draw(st.sampled_from(STREAMS), label="fixture")
    eol = data.draw(st.sampled_from(sorted(EOLS)), label="eol")
    raw = body(name, eol)
    cuts = data.draw(cuts_strategy, label="cuts")
    assert parse_all(split(raw, cuts)) == parse_all([raw])


# generated streams: arbitrary data text, comments, event names, line ends and splits
_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
                max_size=30)
_event = st.tuples(st.one_of(st.none(), st.sampled_from(["error", "ping", "message2"])),
                   st.lists(_text, min_size=1, max_size=3),
                   st.lists(st.text(st.characters(blacklist_characters="\r\n",
                                                  blacklist_categories=("Cs",)), max_size=10),
                            max_size=2))


@SETTINGS
@given(events=st.lists(_event, max_size=12), eol=st.sampled_from(["\n", "\r\n", "\r"]),
       cuts=cuts_strategy, final_blank=st.booleans())
def test_parser_generated_streams(events, eol, cuts, final_blank):
    lines: list[str] = []
    expect = []
    for name, datas, comments in events:
        for c in comments:
            lines.append(":" + c)
        if name:
            lines.append("event: " + name)
        for d in datas:
            lines.append("data: " + d)
        lines.append("")
        expect.append((name, "\n".join(datas).encode()))
    text = eol.join(lines)
    if lines and not final_blank:
        text = text[: -len(eol)] if text.endswith(eol) else text  # the last blank line missing
    elif lines:
        text += eol
    raw = text.encode()
    assert parse_all(split(raw, cuts)) == expect
    assert parse_all([raw]) == expect


# -- the whole read path: SSE + JSON + assembly (client._read_stream) ----------------------

class FakeResponse:
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def aiter_bytes(self):
        for p in self.pieces:
            yield p


def drive(coro: Any) -> Any:
    """Runs a coroutine that never really suspends (no event loop needed)."""
    try:
        coro.send(None)
    except StopIteration as e:
        return e.value
    raise AssertionError("the coroutine suspended")


def read(pieces: list[bytes], body_text: str) -> tuple:
    """What the client's stream reader makes of ``pieces``: the turn (or the error), and what
    the callbacks saw. Invented ids (not in the body) are normalised."""
    rec = Recorder()
    asm = rec.assembler()
    try:
        drive(_read_stream(FakeResponse(pieces), asm))
        r = asm.result()
        ids = {c.id: (c.id if c.id in body_text else f"<invented {i}>")
               for i, c in enumerate(r.tool_calls)}
        outcome: tuple = ("ok", r.content, r.reasoning, r.finish_reason,
                          json.dumps(r.usage, sort_keys=True), r.model,
                          [(c.index, ids[c.id], c.name, c.arguments) for c in r.tool_calls])
    except ProviderError as e:
        ids = {}
        outcome = ("error", type(e).__name__, e.message, e.status, e.after_output,
                   asm.partial_text(), asm.partial_reasoning())
    seen = ("".join(rec.text), "".join(rec.reasoning),
            [(i, ids.get(cid, "<invented>"), n) for i, cid, n in rec.starts],
            [(i, ids.get(cid, "<invented>"), p) for i, cid, p in rec.deltas])
    return outcome, seen


@SETTINGS
@given(data=st.data())
def test_read_path_any_split_equals_whole(data, fixtures_dir):
    name = data.draw(st.sampled_from(STREAMS), label="fixture")
    eol = data.draw(st.sampled_from(sorted(EOLS)), label="eol")
    raw = body(name, eol)
    text = load_fixture(name)["body"]
    cuts = data.draw(cuts_strategy, label="cuts")
    whole = read([raw], text)
    assert read(split(raw, cuts), text) == whole
    # and the text the callbacks saw, in pieces, is the text of the turn
    outcome, seen = whole
    if outcome[0] == "ok":
        assert seen[0] == (outcome[1] or "") and seen[1] == (outcome[2] or "")


@pytest.mark.parametrize("name", STREAMS)
def test_read_path_byte_by_byte(name, fixtures_dir):
    raw = body(name, "crlf")
    text = load_fixture(name)["body"]
    assert read([raw[i:i + 1] for i in range(len(raw))], text) == read([raw], text)


# -- the assembler on generated tool-call chunk sequences ---------------------------------

_args = st.dictionaries(st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1,
                                max_size=6),
                        st.one_of(st.integers(), st.text(max_size=12), st.booleans(),
                                  st.lists(st.integers(), max_size=3)), max_size=4)
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_call = st.tuples(st.text(_ALNUM, min_size=4, max_size=10).map(lambda s: "call_" + s),
                  st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12), _args)


@SETTINGS
@given(calls=st.lists(_call, min_size=1, max_size=4, unique_by=lambda c: c[0]), data=st.data())
def test_assembler_reassembles_split_arguments(calls, data):
    """Tool calls streamed the OpenAI way (index on every chunk; id and name first, then the
    arguments in arbitrary pieces; continuations sometimes repeating ``id: ""``, the type, or
    the whole id and name) come back whole, in order."""
    chunks = []
    for i, (cid, name, args) in enumerate(calls):
        text = json.dumps(args)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6), label="cuts"))
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
        first = {"index": i, "id": cid, "type": "function",
                 "function": {"name": name, "arguments": pieces[0]}}
        chunks.append(first)
        for p in pieces[1:]:
            cont: dict[str, Any] = {"index": i, "function": {"arguments": p}}
            style = data.draw(st.sampled_from(["plain", "empty-id", "repeat", "type"]),
                              label="style")
            if style == "empty-id":
                cont["id"] = ""
            elif style == "repeat":
                cont["id"] = cid
                cont["function"]["name"] = name
            elif style == "type":
                cont["type"] = "function"
            chunks.append(cont)
    asm = Assembler()
    for tc in chunks:
        asm.add({"choices": [{"index": 0, "delta": {"tool_calls": [tc]}, "finish_reason": None}]})
    asm.add({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    r = asm.result()
    assert [(c.id, c.name, json.loads(c.arguments)) for c in r.tool_calls] == \
        [(cid, name, args) for cid, name, args in calls]
    assert r.finish_reason == "tool_calls"


# -- the assembler on arbitrary JSON --------------------------------------------------------

_KEYS = ["choices", "delta", "message", "content", "index", "tool_calls", "function",
         "arguments", "name", "id", "usage", "x_groq", "error", "finish_reason", "reasoning",
         "reasoning_content", "model", "type", "text", "status_code", "code"]
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner,
                                                                max_size=4),
    max_leaves=25)


@SETTINGS
@given(chunks=st.lists(_json, max_size=5))
def test_assembler_raises_only_typed_errors(chunks):
    """Whatever valid JSON a server sends as chunks, the assembler either takes it or raises a
    ProviderError (never an AttributeError/TypeError/KeyError out of the wire floor)."""
    asm = Assembler()
    try:
        for c in chunks:
            asm.add(c)
        asm.result()
    except ProviderError:
        pass

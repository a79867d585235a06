"""Streamed Markdown in a real terminal (tmux): after the answer, the scrollback holds exactly
what Rich prints for the whole answer at that width (the oracle), once, whatever the chunking;
a tall code block never leaves copies behind; Ctrl-C keeps the partial answer once."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest

from cli_support import CliEnv, Term, loomex_bin
from replay_server import Reply

CORPUS = Path(__file__).parent / "data" / "markdown"
FILES = sorted(p.name for p in CORPUS.glob("*.md"))
SIZES = [(80, 24), (200, 50)]


def rich_render(text: str, width: int) -> list[str]:
    """What Rich prints for the whole answer at ``width``, as the terminal shows it."""
    from rich.console import Console
    from rich.markdown import Markdown
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    console.print(Markdown(text, hyperlinks=False))  # loomex shows link targets
    return [ln.rstrip() for ln in console.file.getvalue().split("\n")][:-1]


def chunks(text: str, size: int = 7) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


@pytest.fixture
def term(tmux):
    made: list[Term] = []

    def start(env: CliEnv, *args: str, width: int, height: int) -> Term:
        t = Term(tmux, env.env(), [loomex_bin(), "--no-save", *args], width, height)
        made.append(t)
        return t
    yield start
    for t in made:
        t.close()


def scroll(t: Term) -> list[str]:
    """The scrollback without the dim "model ... · provider ... · from ..." line loomex prints
    first on a terminal (wrapped over two lines at 80 columns)."""
    lines = t.scrollback()
    if lines and lines[0].startswith("model "):
        n = 1
        while n < len(lines) and not "".join(lines[:n]).endswith("default_model"):
            n += 1
        lines = lines[n:]
    return lines


def answer_lines(t: Term, timeout: float = 60) -> list[str]:
    t.wait_for("EXITED=", timeout=timeout)
    lines = scroll(t)
    end = next(i for i, ln in enumerate(lines) if ln.startswith("EXITED="))
    assert re.search(r"\d+ steps? · ", lines[end - 1]), lines[end - 1]  # the usage line
    return lines[:end - 1]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", FILES)
def test_scrollback_is_richs_render_of_the_whole_answer(term, replay, tmp_path, name, size):
    width, height = size
    text = (CORPUS / name).read_text()
    _, url = replay.new_script([Reply.text(*chunks(text), delay=0.001)], prefix="md")
    t = term(CliEnv(tmp_path, url), "explain", width=width, height=height)
    got = answer_lines(t)
    want = rich_render(text, width)
    assert got == want
    if name == "long_code.md":  # the code block is far taller than the screen
        code = [ln for ln in got if "def handler_" in ln or "# kind" in ln]
        source = [ln for ln in text.split("\n") if "def handler_" in ln or "# kind" in ln]
        assert len(code) == len(set(code)) == len(source) > 80


def test_reasoning_is_dim_then_the_answer(term, replay, tmp_path):
    from replay_server import _chunk
    base = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    thoughts = "The user wants a list.\nI will give three items, short ones.\n"
    body = [_chunk({**base, "choices": [{"index": 0, "delta": {"reasoning_content": p},
                                         "finish_reason": None}]}) for p in chunks(thoughts, 5)]
    answer = "Three items:\n\n- one\n- two\n- three\n"
    body += [_chunk({**base, "choices": [{"index": 0, "delta": {"content": p},
                                          "finish_reason": None}]}) for p in chunks(answer, 4)]
    body.append(_chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    body.append("data: [DONE]\n\n")
    _, url = replay.new_script([Reply.sse("".join(body), delay=0.002)], prefix="md-r")
    t = term(CliEnv(tmp_path, url), "list", width=80, height=24)
    got = answer_lines(t)
    assert got == ["The user wants a list.", "I will give three items, short ones.",
                   *rich_render(answer, 80)]


def test_resizing_mid_stream_keeps_every_line_once(term, replay, tmp_path):
    text = (CORPUS / "setup_guide.md").read_text() * 3
    _, url = replay.new_script([Reply.text(*chunks(text, 5), delay=0.004)], prefix="md-rs")
    t = term(CliEnv(tmp_path, url), "explain", width=100, height=30)
    t.wait_for("Configuration", timeout=20)
    t.resize(70, 30)
    t.wait_for("Clone and install", after=1, timeout=20)
    t.resize(120, 30)
    got = " ".join(answer_lines(t))
    words = [w for w in got.split() if w.strip("─━-│|▌•")]
    want = [w for w in " ".join(rich_render(text, 120)).split() if w.strip("─━-│|▌•")]
    assert words == want


def test_ctrl_c_keeps_the_partial_answer_once_and_counts_the_step(term, replay, tmp_path):
    para = "".join(f"Sentence number {i} of a long answer. " for i in range(30)) + "\n\n"
    text = "# A long answer\n\n" + para * 40
    _, url = replay.new_script([Reply.text(*chunks(text, 6), delay=0.01)], prefix="md-c")
    t = term(CliEnv(tmp_path, url), "explain", width=80, height=24)
    t.wait_for("Sentence number 5 ", timeout=20)
    time.sleep(0.5)
    t.keys("C-c")
    t.wait_for("EXITED=130", timeout=20)
    lines = scroll(t)
    end = next(i for i, ln in enumerate(lines) if ln.startswith("EXITED="))
    assert lines[end - 1] == "loomex: interrupted"
    assert re.search(r"· 1 step · ", lines[end - 2]), lines[end - 2]
    shown = [ln for ln in lines[:end - 2] if ln]
    assert shown[0].strip() == "A long answer"
    assert shown.count(shown[0]) == 1
    body = " ".join(shown[1:])
    # the partial answer is a prefix of the whole one: every sentence once, in order
    numbers = [int(n) for n in re.findall(r"Sentence number (\d+) ", body)]
    assert len(numbers) > 5 and numbers == (list(range(30)) * 40)[:len(numbers)]


def test_raw_prints_the_text_as_it_arrives(term, replay, tmp_path):
    text = "# Title\n\nSome **bold** words and a [link][l].\n\n[l]: https://example.com\n"
    _, url = replay.new_script([Reply.text(*chunks(text, 5))], prefix="md-raw")
    t = term(CliEnv(tmp_path, url), "--raw", "explain", width=80, height=24)
    got = answer_lines(t)
    assert got == text.rstrip("\n").split("\n")

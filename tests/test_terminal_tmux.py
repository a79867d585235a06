"""A terminal the model cannot write to, and prompts a person can leave: loomex in a real
terminal (tmux), with tmux itself as the oracle.

The model's answer, its reasoning and its tool arguments carry screen clears, cursor moves,
a window title, a clipboard write (OSC 52), a hidden hyperlink (OSC 8), 8-bit C1 controls and
carriage-return/backspace overwrites. tmux shows whether any of them took effect: the visible
screen, the pane title, its paste buffers (``set-clipboard on`` turns OSC 52 into one), and
every byte the pane received (``pipe-pane``).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from cli_support import CliEnv, Term, loomex_bin
from replay_server import Reply, _chunk

CLIP = "cHduZWQ="  # base64 "pwned"
ATTACK = ("A\x1b[2J\x1b[H\x1b]52;c;" + CLIP + "\x07\x1b]0;PWNED-TITLE\x07"
          "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ B\x9b2J\x9d52;c;" + CLIP
          + "\x9c C\x1b[1A\x1b[2K\x1bc D\x08\x08\x08xx END")
#: the tool call's command: shows ``ls -la`` on a raw terminal, runs ``touch X``
SNEAKY = "touch X\rls -la"


def stream(reasoning: list[str] = (), text: list[str] = (), calls=()) -> Reply:
    """An OpenAI-style stream with reasoning deltas, text deltas and whole tool calls."""
    base = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}

    def delta(d, finish=None):
        return _chunk({**base, "choices": [{"index": 0, "delta": d, "finish_reason": finish}]})
    out = [delta({"role": "assistant", "content": ""})]
    out += [delta({"reasoning_content": r}) for r in reasoning]
    out += [delta({"content": t}) for t in text]
    for i, (cid, name, args) in enumerate(calls):
        out.append(delta({"tool_calls": [{"index": i, "id": cid, "type": "function",
                                          "function": {"name": name,
                                                       "arguments": json.dumps(args)}}]}))
    out.append(delta({}, "tool_calls" if calls else "stop"))
    out.append("data: [DONE]\n\n")
    return Reply.sse("".join(out))


def pieces(text: str, n: int = 3) -> list[str]:
    """``text`` in deltas of ``n`` characters: every escape sequence is split somewhere."""
    return [text[i:i + n] for i in range(0, len(text), n)]


class Pane(Term):
    """A tmux pane that waits for ``go()`` before starting loomex, so that every byte it
    writes is logged and OSC 52 is honoured."""

    def __init__(self, tmux: str, env: dict[str, str], cwd: Path, args: list[str],
                 redirect: str = "", shell: str | None = None) -> None:
        self.dir = cwd
        self.gate = cwd / f".go-{uuid.uuid4().hex[:6]}"
        self.log = cwd.parent / f"pane-{uuid.uuid4().hex[:6]}.log"
        run = shell or " ".join(map(shlex.quote, [loomex_bin(), *args])) + redirect
        script = (f"while [ ! -e {shlex.quote(str(self.gate))} ]; do sleep 0.05; done; "
                  f"printf 'BEFORE-MARK\\n'; cd {shlex.quote(str(cwd))} && {run}")
        super().__init__(tmux, env, ["bash", "--norc", "-c", script])
        self.tmux_cmd("set-option", "-s", "set-clipboard", "on")
        self.tmux_cmd("pipe-pane", "-o", "-t", self.name, f"cat >> {shlex.quote(str(self.log))}")
        self.title0 = self.title()
        self.gate.touch()

    def tmux_cmd(self, *args: str) -> str:
        return subprocess.run([self.tmux, *self.sock, *args], capture_output=True,
                              text=True).stdout

    def visible_screen(self) -> str:
        return self.tmux_cmd("capture-pane", "-p", "-t", self.name)

    def joined(self) -> str:
        """The screen and its history with wrapped lines joined."""
        return self.tmux_cmd("capture-pane", "-p", "-J", "-S", "-200", "-t", self.name)

    def title(self) -> str:
        return self.tmux_cmd("display-message", "-p", "-t", self.name, "#{pane_title}").strip()

    def buffers(self) -> str:
        return self.tmux_cmd("list-buffers")

    def raw(self) -> bytes:
        time.sleep(0.2)  # pipe-pane copies asynchronously
        return self.log.read_bytes() if self.log.exists() else b""


@pytest.fixture
def pane(tmux):
    made: list[Pane] = []

    def start(env: CliEnv, cwd: Path, *args: str, redirect: str = "",
              shell: str | None = None) -> Pane:
        p = Pane(tmux, env.env(), cwd, list(args), redirect, shell)
        made.append(p)
        return p
    yield start
    for p in made:
        p.close()


@pytest.fixture
def work(tmp_path):
    d = tmp_path / "work"
    d.mkdir()
    return d


def assert_nothing_took_effect(p: Pane, raw: bytes) -> None:
    assert p.title() == p.title0 and "PWNED" not in p.title()
    assert p.buffers().strip() == "", "OSC 52 reached the terminal's clipboard"
    text = raw.decode("utf-8", "replace")
    assert "\x1b]" not in text and "\x1bP" not in text and "\x1b_" not in text
    assert not re.search("[\x80-\x9f]", text), "a C1 control reached the terminal"
    assert "\x1b[2J" not in text and "\x1b[H" not in text and "\x1bc" not in text
    assert "\x08" not in text, repr(text[text.index("\x08") - 80:][:120])
    screen = p.visible_screen()
    assert screen.splitlines()[0] == "BEFORE-MARK", screen  # nothing cleared or overwrote it


def only_sgr(raw: bytes) -> None:
    """Every escape in ``raw`` sets colours or attributes (``ESC [ ... m``), nothing else."""
    text = raw.decode("utf-8", "replace")
    others = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "\x1b" not in others, repr(others[others.index("\x1b") - 20:][:60])


def test_the_oracle_sees_the_attack_when_it_is_not_cleaned(pane, tmp_path, work):
    (work / "attack.txt").write_text(ATTACK)
    p = pane(CliEnv(tmp_path), work, shell="cat attack.txt")
    p.wait_for("EXITED=0")
    assert "PWNED" in p.title()
    assert p.buffers().strip() != ""  # OSC 52 became a paste buffer
    assert p.visible_screen().splitlines()[0] != "BEFORE-MARK"  # the screen was cleared


def test_rich_answer_tool_line_and_prompt_are_inert(pane, replay, tmp_path, work):
    name, url = replay.new_script([
        stream(reasoning=pieces("thinking " + ATTACK), text=pieces("Let me look. "),
               calls=[("c1", "bash", {"command": SNEAKY})]),
        stream(text=pieces("Answer: " + ATTACK + "\n\nsecond para " + ATTACK
                           + "\n\nsee [the docs](http://evil.example/x)\n")),
    ], prefix="inert-rich")
    p = pane(CliEnv(tmp_path, url), work, "-t", "bash", "go")
    screen = p.wait_for("[n] no")
    assert "touch X<CR>ls -la" in screen  # the prompt shows what will run
    p.type("n")
    p.keys("Enter")
    p.wait_for("reason for the model")
    p.keys("Enter")
    screen = p.wait_for("EXITED=0")
    assert not (work / "X").exists()
    assert "denied bash(touch X ls -la): the user said no" in screen  # one line, cleaned
    raw = p.raw()
    assert_nothing_took_effect(p, raw)
    vis = p.visible_screen()
    order = [vis.index(s) for s in ("thinking A", "link B", "C D", "xx END", "Answer: A",
                                    "second para A")]
    assert order == sorted(order), vis
    assert "the docs (http://evil.example/x)" in vis  # a link shows where it goes


def test_plain_stderr_shows_inert_lines_and_the_file_gets_the_exact_bytes(
        pane, replay, tmp_path, work):
    answer = "Answer: " + ATTACK + "\r\n" + "\x00\x7f\u202e tail"
    name, url = replay.new_script([
        stream(reasoning=pieces("thinking " + ATTACK), text=pieces("Let me look. " + ATTACK),
               calls=[("c1", "bash", {"command": SNEAKY + " " + ATTACK})]),
        stream(text=pieces(answer)),
    ], prefix="inert-plain")
    out = tmp_path / "answer.txt"
    p = pane(CliEnv(tmp_path, url), work, "-t", "bash", "go", redirect=f" > {out}")
    p.wait_for("[n] no")
    screen = p.joined()
    assert "touch X<CR>ls -la A<ESC>[2J<ESC>[H<ESC>]52;c;" in screen, screen
    assert "<U+009B>2J<U+009D>52;c;" in screen
    p.type("y")
    p.keys("Enter")
    screen = p.wait_for("EXITED=0")
    assert (work / "X").exists() or (work / "X\rls").exists() or any(work.iterdir())
    assert "→ bash(touch X ls -la A" in screen
    raw = p.raw()
    assert_nothing_took_effect(p, raw)
    only_sgr(raw.split(b"BEFORE-MARK", 1)[1])
    assert out.read_bytes() == ("Let me look. " + ATTACK + "\n" + answer + "\n").encode()


def test_quiet_on_a_terminal_cleans_the_answer(pane, replay, tmp_path, work):
    name, url = replay.new_script([stream(text=pieces("Answer: " + ATTACK))], prefix="inert-q")
    p = pane(CliEnv(tmp_path, url), work, "-q", "go")
    p.wait_for("EXITED=0")
    raw = p.raw()
    assert_nothing_took_effect(p, raw)
    only_sgr(raw)
    assert "Answer: Alink B C Dxx END" in p.visible_screen()


# -- prompts a person can leave ------------------------------------------------------------

def saved(env: CliEnv):
    from loomex_cli.engine.store import Store
    with Store.open(env.data / "conversations.db", create=False) as store:
        return [m for m in store.last().messages if m.role != "system"]


def test_ctrl_c_at_the_approval_prompt_ends_the_one_shot_with_130_and_saves(
        pane, replay, tmp_path, work):
    name, url = replay.new_script([
        stream(text=["Let me check."], calls=[("c1", "bash", {"command": "touch X"})]),
        stream(text=["never asked for"]),
    ], prefix="cc-approve")
    env = CliEnv(tmp_path, url)
    p = pane(env, work, "-t", "bash", "do it")
    p.wait_for("[n] no")
    p.keys("C-c")
    screen = p.wait_for("EXITED=")
    assert "EXITED=130" in screen and "interrupted" in screen
    assert not (work / "X").exists()
    assert len(replay.requests(name)) == 1
    msgs = saved(env)
    assert [m.role for m in msgs] == ["user", "assistant", "tool"]
    assert msgs[0].content == "do it" and msgs[1].tool_calls[0].name == "bash"
    assert "cancelled" in msgs[2].content


def test_ctrl_c_at_a_human_prompt_ends_the_one_shot_with_130(pane, replay, tmp_path, work):
    name, url = replay.new_script([
        stream(calls=[("h1", "human", {"question": "Which one?\x1b[2J\x1b]0;PWNED\x07"})]),
        stream(text=["never asked for"]),
    ], prefix="cc-human")
    env = CliEnv(tmp_path, url)
    p = pane(env, work, "-t", "human", "ask me")
    p.wait_for("? the model asks: Which one?")
    p.keys("C-c")
    screen = p.wait_for("EXITED=")
    assert "EXITED=130" in screen
    assert "PWNED" not in p.title() and screen.splitlines()[0] == "BEFORE-MARK"
    assert [m.role for m in saved(env)] == ["user", "assistant", "tool"]


def test_ctrl_c_at_prompts_in_the_repl_goes_back_to_its_prompt(pane, replay, tmp_path, work):
    name, url = replay.new_script([
        stream(calls=[("c1", "bash", {"command": "touch X"})]),
        stream(calls=[("h1", "human", {"question": "Which one?"})]),
        stream(reasoning=pieces(ATTACK), text=pieces("Still here. " + ATTACK)),
    ], prefix="cc-repl")
    p = pane(CliEnv(tmp_path, url), work, "chat", "-t", "bash,human")
    p.wait_for("›")
    p.type("first")
    p.keys("Enter")
    p.wait_for("[n] no")
    p.keys("C-c")
    p.wait_for("interrupted")
    p.wait_for("›", after=1)
    assert not (work / "X").exists()
    p.type("second")
    p.keys("Enter")
    p.wait_for("? the model asks: Which one?")
    p.keys("C-c")
    p.wait_for("interrupted", after=1)
    p.wait_for("›", after=2)
    p.type("third")
    p.keys("Enter")
    p.wait_for("Still here. Alink B C Dxx END")
    p.keys("C-d")
    p.wait_for("EXITED=0")
    raw = p.raw()
    assert p.title() == p.title0 and p.buffers().strip() == ""
    text = raw.decode("utf-8", "replace")
    # (prompt-toolkit itself moves the cursor, and uses backspace, on its own prompt)
    assert "\x1b]" not in text and not re.search("[\x80-\x9f]", text)
    assert "\x1b[2J" not in text and "\x1bc" not in text


def test_parallel_calls_are_asked_one_at_a_time_and_nothing_prints_inside_a_prompt(
        pane, replay, tmp_path, work):
    (work / "notes.txt").write_text("READ-RESULT-LINE\n")
    name, url = replay.new_script([
        stream(calls=[("c1", "bash", {"command": "touch ONE"}),
                      ("c2", "read_file", {"path": "notes.txt"}),
                      ("c3", "bash", {"command": "touch TWO"})]),
        stream(text=["done"]),
    ], prefix="parallel")
    p = pane(CliEnv(tmp_path, url), work, "-t", "bash,read_file", "go")
    screen = p.wait_for("[n] no")
    time.sleep(0.5)  # the read_file result is ready by now: it must wait
    screen = p.joined()
    assert screen.count("wants to run") == 1 and "READ-RESULT-LINE" not in screen
    p.type("y")
    p.keys("Enter")
    p.wait_for("wants to run", after=1)
    screen = p.joined()
    assert screen.count("[n] no") == 2
    p.type("n")
    p.keys("Enter")
    p.wait_for("reason for the model")
    p.keys("Enter")
    screen = p.wait_for("EXITED=0")
    assert (work / "ONE").exists() and not (work / "TWO").exists()
    first_prompt_end = screen.index("> y")
    assert screen.index("READ-RESULT-LINE") > first_prompt_end
    assert "denied bash(touch TWO): the user said no" in screen

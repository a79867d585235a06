"""What the renderers and the approval prompt write, without a terminal: cleaned for a
terminal, byte for byte for a pipe, denials always said, output held during a prompt."""

from __future__ import annotations

import io
import re

from loomex_cli.cli.ask import approval_text
from loomex_cli.cli.render import PlainOutput, RichOutput
from loomex_cli.cli.sanitize import Sanitizer
from loomex_cli.engine.events import (ReasoningDelta, TextDelta, ToolCallComplete,
                                      ToolResult)
from loomex_cli.tools.policy import ApprovalRequest

ATTACK = "A\x1b[2J\x1b]52;c;eA==\x07B\x9b2JC\rD\x08E\x1b]8;;http://evil\x1b\\F"
NON_SGR = re.compile(r"\x1b(?!\[[0-9;]*m)|[\x80-\x9f\x07\x08\r]")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def deltas(text: str, n: int = 2) -> list[TextDelta]:
    return [TextDelta(text[i:i + n]) for i in range(0, len(text), n)]


def plain(out, err, progress=True) -> PlainOutput:
    p = PlainOutput(progress)
    p.out, p.err = out, err
    p._clean_out = Sanitizer() if out.isatty() else None
    return p


def test_a_pipe_gets_the_models_bytes_exactly():
    text = ATTACK + "\r\n\x00tail\u202e"
    p = plain(io.StringIO(), io.StringIO())
    for d in deltas(text):
        p(d)
    p.finish(None)
    assert p.out.getvalue() == text + "\n"


def test_a_terminal_gets_clean_text_and_lines():
    out, err = Tty(), Tty()
    p = PlainOutput(True)
    p.out, p.err = out, err
    p._clean_out = Sanitizer()
    for d in deltas(ATTACK, 3):
        p(d)
    for r in (ATTACK[i:i + 3] for i in range(0, len(ATTACK), 3)):
        p(ReasoningDelta(r))
    p(ToolCallComplete("c1", "bash", '{"command": "touch X\\rls -la\\u001b[2J"}', 0))
    p(ToolResult("c1", "bash", "ok\x1b]0;T\x07done", False, 1.0))
    p.finish(None)
    assert out.getvalue() == "ABC\nDEF\n"
    assert not NON_SGR.search(err.getvalue()), repr(err.getvalue())
    assert "→ bash(touch X ls -la)" in err.getvalue()


def test_a_denial_is_one_stderr_line_even_without_progress():
    out, err = io.StringIO(), io.StringIO()
    p = plain(out, err, progress=False)
    p(ToolCallComplete("c1", "bash", '{"command": "rm -rf x\\u001b[2J"}', 0))
    p(ToolResult("c1", "bash", "Error: denied: the user said no: not\x1b[2J now. The call did "
                 "not run; do not retry it unchanged.", True, 1.0, status="denied"))
    assert err.getvalue() == "✗ denied bash(rm -rf x): the user said no: not now\n"
    assert out.getvalue() == ""


def test_events_wait_while_a_question_is_on_screen():
    out, err = io.StringIO(), io.StringIO()
    p = plain(out, err)
    p(TextDelta("before "))
    with p.suspended():
        p(ToolResult("c2", "read_file", "RESULT", False, 1.0))
        p(TextDelta("during"))
        assert "RESULT" not in err.getvalue() and "during" not in out.getvalue()
    assert "RESULT" in err.getvalue() and out.getvalue() == "before during"


def test_rich_output_writes_no_escape_of_the_models():
    from rich.console import Console
    r = RichOutput()
    buf = io.StringIO()
    r.console = Console(file=buf, force_terminal=True, width=80, highlight=False)
    for d in deltas("# T\n\n" + ATTACK + "\n\nsee [docs](http://evil.example)\n", 3):
        r(d)
    r(ToolCallComplete("c1", "bash", '{"command": "ls\\u001b]0;T\\u0007"}', 0))
    r(ToolResult("c1", "bash", "x\x1b[2Jy", False, 1.0))
    r.finish(None)
    text = buf.getvalue()
    assert "\x1b]" not in text and "\x1b[2J" not in text and "\x9b" not in text
    assert "http://evil.example" in text


# -- the approval prompt -------------------------------------------------------------------

def strip_sgr(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_the_prompt_shows_the_exact_command():
    req = ApprovalRequest("bash", "touch X\r\x1b[2Kls -la\u00a0" + " " * 50 + "#", {},
                          kind="command")
    text = approval_text(req)
    assert not NON_SGR.search(text.replace("\n", ""))
    shown = strip_sgr(text)
    assert "touch X<CR><ESC>[2Kls -la<U+00A0><50 spaces>#" in shown


def test_a_long_or_multiline_command_is_numbered_and_its_size_restated():
    cmd = "touch X" + "\n" * 60 + "ls -la"
    shown = strip_sgr(approval_text(ApprovalRequest("bash", cmd, {}, kind="command")))
    assert " 1│ touch X" in shown and "61│ ls -la" in shown
    assert "↑ 61 lines, 73 characters in all" in shown


def test_an_edit_prompt_shows_the_diff(tmp_path):
    f = tmp_path / "a.py"
    f.write_text("x = 1\ny = 2\n")
    req = ApprovalRequest("edit_file", str(f), {"path": "a.py", "old_string": "y = 2",
                                                "new_string": "y = 3\x1b[2J"},
                          kind="path", display="a.py")
    shown = strip_sgr(approval_text(req))
    assert "-y = 2" in shown and "+y = 3<ESC>[2J" in shown and "wants to write" in shown
    req = ApprovalRequest("edit_file", str(f), {"path": "a.py", "old_string": "nope",
                                                "new_string": "z"}, kind="path")
    assert "old_string is not found: the edit will fail" in strip_sgr(approval_text(req))


def test_a_write_prompt_shows_the_new_files_first_lines(tmp_path):
    content = "".join(f"line {i}\n" for i in range(100))
    req = ApprovalRequest("write_file", str(tmp_path / "new.txt"),
                          {"path": "new.txt", "content": content}, kind="path")
    shown = strip_sgr(approval_text(req))
    assert "new file, 100 lines:" in shown and "+line 0" in shown and "+line 39" in shown
    assert "+line 40" not in shown and "60 more lines not shown" in shown
    (tmp_path / "old.txt").write_text("a\nb\n")
    req = ApprovalRequest("write_file", str(tmp_path / "old.txt"),
                          {"path": "old.txt", "content": "a\nc\n"}, kind="path")
    shown = strip_sgr(approval_text(req))
    assert "-b" in shown and "+c" in shown


def test_history_show_is_cleaned():
    from loomex_cli.cli.history import render_conversation
    from loomex_cli.engine.messages import Message
    from loomex_cli.engine.store import Conversation
    conv = Conversation(id="c1", title="t\x1b]0;x\x07", model="m", created_at="",
                        updated_at="", source="run", cwd=None, message_count=2, usage={},
                        cost_usd=None, messages=[Message.user("hi\x1b[2J"),
                                                 Message.assistant("A\x9b2JB\rC")])
    text = render_conversation(conv)
    assert "\x1b" not in text and "\x9b" not in text and "\r" not in text
    assert "AB\nC" in text


def test_a_made_up_tool_name_is_neither_markup_nor_escape():
    from rich.console import Console
    r = RichOutput()
    buf = io.StringIO()
    r.console = Console(file=buf, force_terminal=True, width=80, highlight=False)
    name = "[link=http://evil.example]x[/link]\x1b]0;T\x07"
    r(ToolCallComplete("c1", name, "{}", 0))
    assert "\x1b]" not in buf.getvalue() and "[link=http://evil.example]x" in buf.getvalue()
    err = Tty()
    p = plain(io.StringIO(), err)
    p(ToolCallComplete("c1", name, "{}", 0))
    p(ToolResult("c1", name, "Error: unknown tool", True, 1.0, status="unknown_tool"))
    assert not NON_SGR.search(err.getvalue())


def test_a_long_line_in_a_preview_says_what_was_cut(tmp_path):
    req = ApprovalRequest("write_file", str(tmp_path / "n.txt"),
                          {"path": "n.txt", "content": "x" * 250 + "TAIL\n"}, kind="path")
    shown = strip_sgr(approval_text(req))
    assert "x" * 199 + "… (54 more characters)" in shown and "TAIL" not in shown


def test_history_show_and_list_are_cleaned_and_export_keeps_the_text(tmp_path):
    from cli_support import CliEnv
    from loomex_cli.engine.messages import Message
    from loomex_cli.engine.store import Store
    env = CliEnv(tmp_path)
    env.data.mkdir(parents=True, exist_ok=True)
    with Store.open(env.data / "conversations.db") as s:
        cid = s.create("m", "run")
        s.append(cid, [Message.user("q\x1b]0;T\x07uestion"), Message.assistant("A\x1b[2JB")])
    for args in (("history", "show", cid), ("history",)):
        d = env.run(*args)
        assert d.code == 0 and "\x1b" not in d.out and "question" in d.out, d
    d = env.run("history", "export", cid, "--format", "json")
    assert "A\\u001b[2JB" in d.out or "A\x1b[2JB" in d.out

"""``loomex -x`` on a real terminal (tmux): run, edit, describe, copy, cancel, the typed
confirmation a dangerous command needs, and a model answer whose escape sequences must not
reach the terminal."""

from __future__ import annotations

import subprocess
import time

import pytest

from cli_support import CliEnv, Term, loomex_bin
from replay_server import Reply

MENU = "[q] cancel"
#: what the command runs in: a known shell, and no clipboard program (copy takes OSC 52)
PREFIX = ["env", "-u", "DISPLAY", "-u", "WAYLAND_DISPLAY", "-u", "SSH_CONNECTION", "-u",
          "SSH_TTY", "SHELL=/bin/bash"]


@pytest.fixture
def shx(tmux, replay, tmp_path, tmp_path_factory):
    made: list[Term] = []
    # HOME outside tmp_path: a command working in tmp_path would otherwise touch a directory
    # that holds ~/.ssh (a protected place: always a typed yes)
    home = tmp_path_factory.mktemp("home")

    def start(replies, request="do it", extra_config="", **env_extra):
        name, url = replay.new_script(replies, prefix="shxt")
        env = CliEnv(tmp_path, url, extra_config=extra_config)
        (home / "keep-me").write_text("still here\n")
        env_vars = env.env(HOME=str(home), **env_extra)
        t = Term(tmux, env_vars, [*PREFIX, loomex_bin(), "-x", request])
        t.replay_name = name
        t.home = home
        made.append(t)
        return t
    yield start
    for t in made:
        t.close()


def menus(t: Term) -> int:
    return t.screen().count(MENU)


def exited(t: Term) -> str:
    s = t.wait_for("EXITED=")
    return s.split("EXITED=", 1)[1].split()[0]


def test_run_executes_with_the_users_shell_and_exits_with_its_status(shx, tmp_path):
    work = tmp_path / "work"  # not tmp_path: it holds loomex's config dir (protected)
    work.mkdir()
    marker = work / "ran"
    long = " ".join(f"w{i}" for i in range(40))  # wider than the pane: wrapped, never cut
    t = shx([Reply.text(f"cd {work} && touch ran && echo {long} made-it; exit 3")])
    s = t.wait_for(MENU)
    assert "w39 made-it; exit 3" in s
    assert not marker.exists()
    t.keys("r")
    assert exited(t) == "3"
    assert marker.exists()
    assert "made-it" in t.screen()


def test_edit_changes_the_command_and_describe_explains_it(shx, replay, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    t = shx([Reply.text(f"touch {first}"), Reply.text("Creates\x1b[2J an empty file.\nReally.")])
    t.wait_for(MENU)
    t.keys("e")
    t.wait_for(f"edit› touch {first}")  # pre-filled
    # prompt_toolkit may draw before it reads keys raw: a Ctrl-U sent earlier is taken by the
    # terminal's line mode and lost, so it is sent again until the line is empty
    for _ in range(20):
        t.keys("C-u")
        try:
            t.wait_for("edit› \n", timeout=1)
            break
        except AssertionError:
            continue
    t.type(f"touch {second}")
    t.keys("Enter")
    t.wait_for(MENU, after=1)
    assert t.screen().strip().splitlines()[-2].strip() == f"touch {second}"
    t.keys("d")
    t.wait_for("Creates an empty file. Really.")  # one line, cleaned
    described = replay.requests(t.replay_name)[1].body["messages"]
    assert described[-1]["content"] == f"touch {second}"
    assert "one short sentence" in described[0]["content"]
    t.wait_for(MENU, after=2)
    t.keys("r")
    assert exited(t) == "0"
    assert second.exists() and not first.exists()


def test_cancel_and_ctrl_c_run_nothing(shx, tmp_path):
    marker = tmp_path / "never"
    t = shx([Reply.text(f"touch {marker}")])
    t.wait_for(MENU)
    t.keys("q")
    assert exited(t) == "130"
    assert "nothing ran" in t.screen()
    t2 = shx([Reply.text(f"touch {marker}")])
    t2.wait_for(MENU)
    t2.keys("C-c")
    assert exited(t2) == "130"
    assert "interrupted" in t2.screen()
    t3 = shx([Reply.text("ls", head_delay=30)])  # Ctrl-C while the model is asked
    t3.wait_for("asking replay/test-model")
    t3.keys("C-c")
    assert exited(t3) == "130"
    assert "interrupted" in t3.screen()
    assert not marker.exists()


def test_a_dangerous_command_shows_why_and_needs_yes_typed(shx, tmp_path):
    t = shx([Reply.text("rm -rf ~")])
    t.wait_for(MENU)
    t.keys("r")
    s = t.wait_for("type yes to run it anyway")
    assert "! dangerous:" in s
    t.type("y")  # a single key is not enough
    t.keys("Enter")
    t.wait_for("not run")
    t.wait_for(MENU, after=1)
    t.keys("r")
    t.wait_for("type yes to run it anyway", after=1)
    t.type("no")
    t.keys("Enter")
    t.wait_for("not run", after=1)
    t.wait_for(MENU, after=2)
    t.keys("q")
    assert exited(t) == "130"
    assert (t.home / "keep-me").read_text() == "still here\n"

    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    t2 = shx([Reply.text(f"rm -r {victim}")])
    t2.wait_for(MENU)
    t2.keys("r")
    s = t2.wait_for("type yes to run it anyway")
    assert "recursive delete" in s
    t2.type("yes")
    t2.keys("Enter")
    assert exited(t2) == "0"
    assert not victim.exists()


def test_a_deny_rule_refuses_outright(shx, tmp_path):
    marker = tmp_path / "denied"
    t = shx([Reply.text(f"touch {marker}")],
            extra_config='\n[tools.bash]\ndeny = ["touch *"]\n')
    t.wait_for(MENU)
    t.keys("r")
    s = t.wait_for("refused:")
    assert 'deny = ["touch *"]' in s and "type yes" not in s
    t.wait_for(MENU, after=1)
    t.keys("q")
    assert exited(t) == "130"
    assert not marker.exists()


def test_escape_sequences_in_the_answer_never_reach_the_terminal(shx, tmp_path):
    marker = tmp_path / "hidden"
    answer = f"echo safe\x1b]2;PWNED-TITLE\x07\x1b[2J\x1b[31m; touch {marker}"
    t = shx([Reply.text(answer)])
    s = t.wait_for(MENU)
    assert "<ESC>]2;PWNED-TITLE<BEL><ESC>[2J<ESC>[31m" in s  # shown as markers
    assert "hidden or control characters" in s
    title = subprocess.run([t.tmux, *t.sock, "display-message", "-p", "-t", t.name,
                            "#{pane_title}"], capture_output=True, text=True).stdout
    assert "PWNED" not in title
    t.keys("c")  # a paste of it could do more than it shows
    t.wait_for("not copied")
    t.wait_for(MENU, after=1)
    t.keys("r")
    t.wait_for("type yes to run it anyway")
    assert "! it holds hidden or control characters" in t.screen()
    t.keys("Enter")
    t.wait_for("not run")
    t.wait_for(MENU, after=2)
    t.keys("q")
    assert exited(t) == "130"
    assert not marker.exists()


def test_copy_puts_the_command_on_the_clipboard_without_running_it(shx, tmp_path):
    marker = tmp_path / "copied"
    t = shx([Reply.text(f"touch {marker}")])
    subprocess.run([t.tmux, *t.sock, "set-option", "-g", "set-clipboard", "on"], check=True)
    t.wait_for(MENU)
    t.keys("c")
    assert exited(t) == "0"
    assert "copied (with OSC 52" in t.screen()
    deadline = time.monotonic() + 10
    buf = ""
    while time.monotonic() < deadline and buf != f"touch {marker}":
        buf = subprocess.run([t.tmux, *t.sock, "show-buffer"], capture_output=True,
                             text=True).stdout
        time.sleep(0.1)
    assert buf == f"touch {marker}"
    assert not marker.exists()


def test_piped_stdin_prints_the_command_made_visible_on_the_terminal(tmux, replay, tmp_path):
    """stdin is a pipe, stdout the terminal: not interactive (printed, never run), and the
    printed command cannot drive the terminal."""
    marker = tmp_path / "piped"
    name, url = replay.new_script([Reply.text(f"touch {marker}\x1b]2;PWNED-TITLE\x07")],
                                  prefix="shxp")
    env = CliEnv(tmp_path, url)
    line = f"echo some context | {loomex_bin()} -x 'make a marker'"
    t = Term(tmux, env.env(), [*PREFIX, "bash", "--norc", "-c", line])
    try:
        assert exited(t) == "0"
        s = t.screen()
        assert f"touch {marker}<ESC>]2;PWNED-TITLE<BEL>" in s and MENU not in s
        title = subprocess.run([t.tmux, *t.sock, "display-message", "-p", "-t", t.name,
                                "#{pane_title}"], capture_output=True, text=True).stdout
        assert "PWNED" not in title
        assert "some context" in replay.requests(name)[0].body["messages"][-1]["content"]
        assert not marker.exists()
    finally:
        t.close()

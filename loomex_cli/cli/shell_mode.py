"""``loomex -x "find files over 100 MB changed this week"``: one shell command from the model.

Not interactive (stdin or stdout is not a terminal): the command is printed, one line, and
nothing runs. On a terminal it is shown (highlighted when it is plain text; with every hidden
or control character as a reverse-video marker otherwise, never raw) and single keys choose:
run, edit, describe (a second model call), copy, cancel.

Run asks the approval policy (tools/policy.py: the danger rules and the config's
``[tools.bash]`` rules, on the command as bash reads it): a deny rule refuses; a dangerous
command, one loomex cannot read (not plain), one with hidden characters, or one for a shell
loomex does not read (fish, ...) needs ``yes`` typed in full after the reasons are shown.
The command then runs with the user's shell in the working directory, with the terminal,
and its exit status is loomex's. Cancel and Ctrl-C exit 130.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .exits import INTERRUPTED, OK, PROVIDER, USAGE, CliError, fail, say
from .sanitize import clean, visible
from .shell_prompt import (BASH_LIKE, command_system, describe_system, extract_command,
                           os_name, user_shell)

NO_REQUEST = 'no request: loomex -x "what the command should do"'
CHOICES = "\x1b[1m[r]\x1b[0mun  \x1b[1m[e]\x1b[0mdit  \x1b[1m[d]\x1b[0mescribe  " \
          "\x1b[1m[c]\x1b[0mopy  \x1b[1m[q]\x1b[0m cancel "
KEYS = {"r": "run", "e": "edit", "d": "describe", "c": "copy", "q": "cancel", "n": "cancel",
        "\x04": "cancel"}


def run_shell(opts: Any) -> int:
    for flag, given in (("--json", opts.json), ("--tools", opts.tools),
                        ("--continue", getattr(opts, "cont", False)),
                        ("-f/--file", getattr(opts, "files", None)),
                        ("-a/--attach", getattr(opts, "attach", None)),
                        ("--schema", getattr(opts, "schema", None))):
        if given:
            fail(f"-x/--shell does not take {flag}", USAGE)
    interactive = _isatty(sys.stdin) and _isatty(sys.stdout)
    if not opts.prompt.strip():
        fail(NO_REQUEST, USAGE)
    from .setup import Setup
    from .stdin import NOTE, compose, read_piped, stdin_readable
    opts.tools = ""  # the model only answers: it is offered no tools
    opts.max_steps = 1
    opts.no_context_files = True  # a command for the shell, not work on the project
    setup = Setup(opts)  # a bad config or key fails before stdin is waited for
    piped = None
    if not interactive and not opts.no_stdin and stdin_readable():
        piped = read_piped(lambda: say(NOTE)).text
    shell, argv = user_shell()
    osname = os_name()
    request = compose(opts.prompt, piped)
    extra = opts.system  # -s, else the --role's prompt, goes after the shell instructions
    if extra is None and setup.role_name:
        from .setup import find_role
        extra = find_role(setup.config, setup.role_name).get("system")
    answer = _ask(setup, command_system(shell, osname, extra), request,
                  status=interactive)
    command = extract_command(answer)
    if not command:
        fail("the model gave no command" + (f"; it said: {answer.strip()[:200]}"
                                            if answer.strip() else ""), PROVIDER)
    if not interactive:
        # to a terminal (stdin was piped) the command is made visible; to a pipe, its bytes
        out = visible(command, mark=False) if _isatty(sys.stdout) else command
        sys.stdout.write(out + "\n")
        return OK
    return Menu(setup, command, shell, argv, osname).loop()


def _isatty(stream: Any) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- the model calls ------------------------------------------------------------------------
def _ask(setup: Any, system: str, text: str, status: bool) -> str:
    """The model's answer to one request (no tools, one step); Ctrl-C / SIGTERM end it."""
    from ..engine.messages import Message
    setup.system = system
    agent = setup.agent()
    status = status and _isatty(sys.stderr)
    if status:
        sys.stderr.write(f"\x1b[2m… asking {clean(setup.model)}\x1b[0m")
        sys.stderr.flush()
    try:
        text_out, signum = asyncio.run(_call(agent, setup, [Message.system(system),
                                                            Message.user(text)]))
    finally:
        if status:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
    if signum is not None:
        from .interrupt import describe, exit_code
        raise CliError(describe(signum), exit_code(signum))
    return text_out


async def _call(agent: Any, setup: Any, messages: list[Any]) -> tuple[str, int | None]:
    import signal
    from ..engine.loop import arun
    from ..wire.client import close_client
    from .interrupt import on_interrupt
    task = asyncio.current_task()
    try:
        with on_interrupt(task.cancel) as caught:  # type: ignore[union-attr]
            try:
                result = await arun(agent, messages, ask_human=None, model=setup.resolved)
            except asyncio.CancelledError:
                return "", caught.signum or int(signal.SIGINT)
        return result.text, None
    finally:
        await close_client()


# -- the terminal ---------------------------------------------------------------------------
@dataclass
class Verdict:
    """What the policy says of running the command: refused, or the reasons that call for a
    typed ``yes`` (none: the single key is enough)."""
    refused: str | None = None
    reasons: list[str] = field(default_factory=list)


class Menu:
    def __init__(self, setup: Any, command: str, shell: str, argv: list[str],
                 osname: str) -> None:
        self.setup, self.command, self.shell, self.argv, self.osname = \
            setup, command, shell, argv, osname

    def loop(self) -> int:
        self.show()
        while True:
            choice = KEYS.get(read_key(CHOICES))
            if choice == "cancel":
                _out("\x1b[2mcancelled: nothing ran\x1b[0m\n")
                return INTERRUPTED
            if choice == "run":
                code = self.run()
                if code is not None:
                    return code
            elif choice == "edit":
                new = edit_line(self.command)
                if new is not None and new.strip() and new != self.command:
                    self.command = new
                    self.show()
            elif choice == "describe":
                text = _ask(self.setup, describe_system(self.shell, self.osname),
                            self.command, status=True)
                line = " ".join(clean(text).split())
                _out(f"\x1b[36m{line or '(no description)'}\x1b[0m\n")
            elif choice == "copy":
                if self.copy():
                    return OK

    def show(self) -> None:
        shown = visible(self.command, mark=False)
        if shown == self.command:
            highlight(self.command)
            return
        _out("\x1b[33m! the command holds hidden or control characters, shown as "
             "\x1b[7m<markers>\x1b[27m:\x1b[0m\n")
        _out("  " + visible(self.command, mark=True).replace("\n", "\n  ") + "\n")

    def verdict(self) -> Verdict:
        from ..engine.agent import Approval
        from ..errors import ConfigError
        from ..tools.bash import BashTool
        from ..tools.policy import Policy
        try:
            policy = Policy.from_config(self.setup.config, ask=lambda _req: "no", yes=False,
                                        cwd=os.getcwd())
        except ValueError as e:
            raise ConfigError(f"config.toml [tools]: {e}") from None
        decided = policy.decide(BashTool(), {"command": self.command})
        v = Verdict()
        if isinstance(decided, Approval):
            if not decided.allowed:
                return Verdict(refused=decided.reason)
        else:
            if decided.danger:
                v.reasons.append(f"dangerous: {decided.danger}")
            if decided.unreadable:
                v.reasons.append(f"not a plain command: {decided.unreadable}")
        if visible(self.command, mark=False) != self.command:
            v.reasons.append("it holds hidden or control characters")
        if self.shell not in BASH_LIKE:
            v.reasons.append(f"loomex reads commands as bash, and your shell is {self.shell}")
        return v

    def run(self) -> int | None:
        """The command's exit status, or None when it did not run (back to the choices)."""
        v = self.verdict()
        if v.refused:
            _out(f"\x1b[31mrefused: {clean(v.refused)}\x1b[0m\n")
            return None
        if v.reasons:
            for why in v.reasons:
                _out(f"\x1b[31m! {clean(why)}\x1b[0m\n")
            if read_line("type yes to run it anyway: ").strip().lower() != "yes":
                _out("\x1b[2mnot run\x1b[0m\n")
                return None
        return run_command(self.argv, self.command)

    def copy(self) -> bool:
        if visible(self.command, mark=False) != self.command:
            _out("\x1b[31mnot copied: a paste of hidden or control characters could do "
                 "more than it shows\x1b[0m\n")
            return False
        how = copy_text(self.command)
        _out(f"\x1b[2mcopied ({how}); nothing ran\x1b[0m\n")
        return True


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def highlight(command: str) -> None:
    """The command, syntax-highlighted (``command`` holds no control character). Long lines
    are left to the terminal to wrap (never cut, never broken at a space that would look
    like a newline); the lines of a multi-line command are numbered."""
    from pygments.lexers.shell import BashLexer
    from rich.console import Console
    from rich.syntax import Syntax
    from rich.text import Text
    text = Syntax(command, BashLexer(), theme="monokai",
                  background_color="default").highlight(command)
    text.rstrip()
    lines = text.split("\n")
    if len(lines) > 1:
        width = len(str(len(lines)))
        numbered = Text()
        for i, line in enumerate(lines, 1):
            numbered.append(f"{i:>{width}}│ ", style="dim")
            numbered.append_text(line)
            numbered.append("\n")
        numbered.rstrip()
        text = numbered
    Console(highlight=False).print(text, soft_wrap=True)


def read_key(prompt: str) -> str:
    """One key from the terminal (type-ahead discarded before ``prompt`` is shown)."""
    if sys.platform == "win32":
        import msvcrt
        _out(prompt)
        ch = msvcrt.getwch()
        _out("\n")
        if ch == "\x03":
            raise KeyboardInterrupt
        return ch.lower()
    import termios
    import tty
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)  # Ctrl-C still raises SIGINT
        termios.tcflush(fd, termios.TCIFLUSH)
        _out(prompt)
        data = os.read(fd, 64)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    key = data[:1].decode("ascii", "replace").lower() if data else "\x04"
    _out((key if key.isalpha() else "") + "\n")
    return key


def read_line(prompt: str) -> str:
    """A line typed in full (type-ahead discarded first); end of input is ''."""
    try:
        import termios
        termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)
    except (ImportError, OSError, ValueError):
        pass
    try:
        return input(prompt)
    except EOFError:
        _out("\n")
        return ""


def edit_line(command: str) -> str | None:
    """The command in a line editor, pre-filled (Ctrl-X Ctrl-E: $EDITOR); None on Ctrl-D."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.shell import BashLexer
    _out("\x1b[2mEnter takes it · Ctrl-X Ctrl-E opens $EDITOR · Ctrl-D keeps it as it was"
         "\x1b[0m\n")
    try:
        return PromptSession().prompt("edit› ", default=command, lexer=PygmentsLexer(BashLexer),
                                      enable_open_in_editor=True)
    except EOFError:
        return None


def run_command(argv: list[str], command: str) -> int:
    """Runs ``command`` with the user's shell, the terminal inherited; its exit status
    (128 + N when signal N ended it). A Ctrl-C goes to the command, not to loomex."""
    import signal
    import subprocess
    previous = signal.signal(signal.SIGINT, _ignore)  # a handler, not SIG_IGN: exec resets it
    try:
        proc = subprocess.run([*argv, command])
    finally:
        signal.signal(signal.SIGINT, previous)
    return 128 - proc.returncode if proc.returncode < 0 else proc.returncode


def _ignore(_signum: int, _frame: Any) -> None:
    pass


def copy_text(text: str) -> str:
    """Puts ``text`` on the clipboard; says how: a clipboard program when one serves this
    display (not over ssh, where it would be the remote machine's), else OSC 52."""
    import subprocess
    tool = _clipboard_tool()
    if tool is not None:
        try:
            subprocess.run(tool, input=text.encode(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=5, check=True)
            return f"with {os.path.basename(tool[0])}"
        except (OSError, subprocess.SubprocessError):
            pass  # OSC 52 then
    import base64
    _out(f"\x1b]52;c;{base64.b64encode(text.encode()).decode('ascii')}\x07")
    return "with OSC 52: the terminal must allow it (in tmux: set-clipboard on)"


def _clipboard_tool() -> list[str] | None:
    import shutil
    env = os.environ
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return None
    candidates: list[list[str]] = []
    if sys.platform == "darwin":
        candidates.append(["pbcopy"])
    elif sys.platform == "win32":
        candidates.append(["clip"])
    else:
        if env.get("WAYLAND_DISPLAY"):
            candidates.append(["wl-copy"])
        if env.get("DISPLAY"):
            candidates += [["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]
        candidates.append(["clip.exe"])  # WSL
    for argv in candidates:
        found = shutil.which(argv[0])
        if found:
            return [found, *argv[1:]]
    return None

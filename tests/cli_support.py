"""Running the installed ``loomex`` as a subprocess against the replay server."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRET = "sk-replay-SECRET-0123456789abcdef"


def loomex_bin() -> str:
    exe = Path(sys.executable).parent / "loomex"
    if exe.exists():
        return str(exe)
    found = shutil.which("loomex")
    if not found:
        raise RuntimeError("the loomex console script is not installed in this environment")
    return found


@dataclass
class Done:
    code: int
    out: str
    err: str


class CliEnv:
    """A private config dir whose ``replay`` provider points at a replay-server script."""

    def __init__(self, root: Path, url: str | None = None, extra_config: str = "") -> None:
        self.root = root
        self.config = root / "config"
        self.data = root / "data"
        self.config.mkdir(parents=True, exist_ok=True)
        lines = ['default_model = "replay/test-model"', "", "[retry]", "base_delay = 0.01",
                 "max_retry_after = 0.2", ""]
        if url:
            lines += ["[providers.replay]", f'base_url = "{url}"', 'api_key_env = "REPLAY_API_KEY"', ""]
        (self.config / "config.toml").write_text("\n".join(lines) + extra_config)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.endswith("_API_KEY") and k != "LOOMEX_MODEL"}
        env.update(LOOMEX_CONFIG_DIR=str(self.config), LOOMEX_DATA_DIR=str(self.data),
                   LOOMEX_CACHE_DIR=str(self.root / "cache"), REPLAY_API_KEY=SECRET,
                   NO_COLOR="1", COLUMNS="100", LOOMEX_MODELS_URL="off")
        env.update(extra)
        return env

    def run(self, *args: str, stdin: Any = subprocess.DEVNULL, input: str | None = None,
            timeout: float = 30, cwd: Any = None, **env: str) -> Done:
        kw: dict[str, Any] = {"input": input} if input is not None else {"stdin": stdin}
        p = subprocess.run([loomex_bin(), *args], capture_output=True, text=True,
                           env=self.env(**env), timeout=timeout, cwd=cwd, **kw)
        assert SECRET not in p.stdout and SECRET not in p.stderr, "the API key leaked"
        assert "Traceback" not in p.stderr, p.stderr
        return Done(p.returncode, p.stdout, p.stderr)


class Term:
    """A command in a tmux pane of ``width`` x ``height`` (with a long scrollback)."""

    def __init__(self, tmux: str, env: dict[str, str], cmd: list[str], width: int = 100,
                 height: int = 40) -> None:
        self.tmux = tmux
        self.name = "lx-" + uuid.uuid4().hex[:8]
        self.sock = ["-L", self.name]
        envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()
                        if k.startswith(("LOOMEX_", "REPLAY_")) or k in ("PATH", "HOME", "NO_COLOR", "EDITOR", "VISUAL"))
        line = f"env {envs} TERM=xterm-256color {' '.join(map(shlex.quote, cmd))}; echo EXITED=$?; sleep 30"
        subprocess.run([tmux, *self.sock, "-f", "/dev/null", "start-server", ";",
                        "set-option", "-g", "history-limit", "50000", ";",
                        "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                        "bash", "--norc", "-c", line], check=True)

    def keys(self, *keys: str) -> None:
        subprocess.run([self.tmux, *self.sock, "send-keys", "-t", self.name, *keys], check=True)

    def type(self, text: str) -> None:
        subprocess.run([self.tmux, *self.sock, "send-keys", "-t", self.name, "-l", text], check=True)

    def paste(self, text: str) -> None:
        """Pastes ``text`` as a terminal does (bracketed, when the program asked for it)."""
        buf = self.name + "-paste"
        subprocess.run([self.tmux, *self.sock, "set-buffer", "-b", buf, text], check=True)
        subprocess.run([self.tmux, *self.sock, "paste-buffer", "-p", "-d", "-b", buf, "-t", self.name],
                       check=True)

    def screen(self) -> str:
        return subprocess.run([self.tmux, *self.sock, "capture-pane", "-p", "-t", self.name, "-S", "-200"],
                              capture_output=True, text=True).stdout

    def wait_prompt(self, timeout: float = 15) -> str:
        """Until the REPL sits at an empty prompt (the last line on screen is "›"). Keys sent
        before are not lost (they wait for the next prompt); wait to read the screen, or
        before a Ctrl-D, which is dropped while an answer streams."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.screen()
            lines = [ln for ln in s.splitlines() if ln.strip()]
            if lines and lines[-1].strip() == "›":
                return s
            time.sleep(0.1)
        raise AssertionError(f"no empty prompt; screen:\n{self.screen()}")

    def pane_tty(self) -> str:
        """The pane's terminal device (its settings can be read with termios.tcgetattr)."""
        return subprocess.run([self.tmux, *self.sock, "display-message", "-p", "-t", self.name,
                               "#{pane_tty}"], capture_output=True, text=True).stdout.strip()

    def scrollback(self) -> list[str]:
        """Every line of the pane, the scrollback first (trailing blanks stripped)."""
        out = subprocess.run([self.tmux, *self.sock, "capture-pane", "-p", "-t", self.name,
                              "-S", "-", "-E", "-"], capture_output=True, text=True).stdout
        lines = [ln.rstrip() for ln in out.split("\n")]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def resize(self, width: int, height: int) -> None:
        subprocess.run([self.tmux, *self.sock, "resize-window", "-t", self.name, "-x", str(width),
                        "-y", str(height)], check=True)

    def leave_with_ctrl_d(self) -> str:
        """Ctrl-D at an empty prompt (once the answer is over: typed while an answer streams,
        Ctrl-D is dropped), then EXITED=0."""
        self.wait_prompt()
        self.keys("C-d")
        return self.wait_for("EXITED=0")

    def wait_for(self, text: str, timeout: float = 15, after: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.screen()
            if s.count(text) > after:
                return s
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear; screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([self.tmux, *self.sock, "kill-server"], capture_output=True)

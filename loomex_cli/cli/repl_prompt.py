"""The REPL's prompt: keys, completion of /commands, model names and @paths, $EDITOR, /file.

Enter sends; Esc-Enter / Alt-Enter inserts a newline; a paste (bracketed by the terminal) is
inserted whole, newlines and all, and never sends. Ctrl-R searches the history backwards,
Ctrl-X Ctrl-E opens the line in $VISUAL / $EDITOR. Model names complete from the models of the
configured providers (and of the provider already typed, ``groq/``), computed once, off the
event loop, from the registry loaded at start-up: never a network call per key.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

#: model completions shown at most
MAX_MODELS = 200
#: @path completions shown at most
MAX_PATHS = 200


def make_session(commands: dict[str, str], setup: Any) -> Any:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.filters import is_searching
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings

    from ..wire.config import data_dir

    kb = KeyBindings()

    @kb.add("enter", filter=~is_searching)  # in Ctrl-R, Enter takes the match into the line
    def _(event: Any) -> None:
        event.current_buffer.validate_and_handle()

    @kb.add("escape", "enter")
    def _(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    history_dir = data_dir()
    history_dir.mkdir(parents=True, exist_ok=True)
    return PromptSession(history=FileHistory(str(history_dir / "history")), multiline=True,
                         key_bindings=kb, completer=completer(commands, setup),
                         complete_while_typing=True, prompt_continuation="  ",
                         enable_open_in_editor=True, complete_in_thread=True)


def completer(commands: dict[str, str], setup: Any) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    models = ModelNames(setup)

    class SlashCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Any:
            text = document.text_before_cursor
            at = AT_WORD.search(text)
            if at is not None:  # @path: files and directories here (cli/mentions.py)
                for name, meta in path_names(at.group(1)):
                    yield Completion(name, -len(at.group(1)), display_meta=meta)
                return
            if not text.startswith("/"):
                return
            if " " not in text:
                for cmd, help_text in commands.items():
                    if cmd.startswith(text):
                        yield Completion(cmd, -len(text), display_meta=help_text)
            elif text.startswith("/file ") and "\n" not in text:
                word = text[len("/file "):].lstrip()
                for name, meta in path_names(word):
                    yield Completion(name.strip('"'), -len(word), display_meta=meta)
            elif text.startswith("/model ") and "\n" not in text:
                word = text[len("/model "):].lstrip()
                for name in models.matching(word):
                    yield Completion(name, -len(word))
            elif text.startswith("/role ") and "\n" not in text:
                word = text[len("/role "):].lstrip()
                from .setup import roles
                for name in sorted(roles(setup.config)):
                    if name.startswith(word):
                        yield Completion(name, -len(word))
    return SlashCompleter()


#: an ``@`` word being typed at the end of the text (as cli/mentions.py reads mentions)
AT_WORD = re.compile(r"""(?:^|(?<=[\s(\[{"'`]))@([^\s"@]*)\Z""")


def path_names(word: str, cwd: Callable[[], str] = os.getcwd) -> list[tuple[str, str]]:
    """Completions of a path being typed after ``@``: the entries of its directory that
    start with its last part (hidden ones only when that starts with "."), directories with
    a trailing "/". Looks at one directory: never a walk."""
    head, _, part = word.rpartition("/")
    base = os.path.expanduser(head + "/" if head or word.startswith("/") else "")
    where = base if os.path.isabs(base) else os.path.join(cwd(), base)
    try:
        with os.scandir(where) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return []
    out = []
    for e in entries:
        if not e.name.startswith(part) or (e.name.startswith(".") and not part.startswith(".")):
            continue
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False
        name = (head + "/" if head or word.startswith("/") else "") + e.name + ("/" if is_dir else "")
        if any(c.isspace() for c in name):  # quoted, as mentions.py reads @"a path"
            name = f'"{name}"'
        out.append((name, "directory" if is_dir else ""))
        if len(out) >= MAX_PATHS:
            break
    return out


class ModelNames:
    """Model ids to complete, gathered once (then per provider prefix typed)."""

    def __init__(self, setup: Any) -> None:
        self.setup = setup
        self._base: list[str] | None = None
        self._by_prefix: dict[str, list[str]] = {}

    def base(self) -> list[str]:
        if self._base is None:
            names: list[str] = []
            try:
                from .listing import collect
                rows, _ = collect(None, self.setup.config, self.setup.keys)
                names = [r["model"] for r in rows]
            except Exception:  # noqa: BLE001 - completion is a nicety, never an error
                pass
            if self.setup.model not in names:
                names.insert(0, self.setup.model)
            from ..wire.model_names import aliases  # config.toml [aliases]
            names[:0] = sorted(aliases(self.setup.config))
            self._base = names
        return self._base

    def of_provider(self, prefix: str) -> list[str]:
        if prefix not in self._by_prefix:
            found: list[str] = []
            try:
                from ..wire import registry
                found = [m.id for m in registry.provider_models(prefix, deprecated=False) or []]
            except Exception:  # noqa: BLE001
                pass
            self._by_prefix[prefix] = found
        return self._by_prefix[prefix]

    def matching(self, word: str) -> list[str]:
        pool = list(self.base())
        if "/" in word:
            pool += [m for m in self.of_provider(word.split("/", 1)[0]) if m not in pool]
        low = word.lower()
        starts = [m for m in pool if m.lower().startswith(low)]
        inside = [m for m in pool if low in m.lower() and m not in starts]
        return (starts + inside)[:MAX_MODELS]


def edit(initial: str = "") -> str:
    """Opens ``initial`` in $VISUAL / $EDITOR (vi, or notepad on Windows); the text saved."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or \
        ("notepad" if sys.platform == "win32" else "vi")
    fd, path = tempfile.mkstemp(prefix="loomex-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(initial)
        try:
            code = subprocess.call([*shlex.split(editor), path])
        except OSError as e:
            from .exits import CliError
            raise CliError(f"cannot start the editor {editor!r}: {e.strerror or e}") from None
        if code != 0:
            from .exits import CliError
            raise CliError(f"the editor exited with status {code}; nothing was kept")
        return Path(path).read_text(encoding="utf-8", errors="replace")
    finally:
        os.unlink(path)


def file_block(arg: str, cwd: Callable[[], str] = os.getcwd) -> tuple[str, str]:
    """(blocks, note) for ``/file PATH|DIR|GLOB``: text files in delimited blocks, as ``-f``
    adds them (cli/attach.py). A missing, binary or huge file is a CliError."""
    from .attach import Extra, add_files
    from .exits import CliError
    if not arg:
        raise CliError("/file PATH")
    extra = Extra()
    add_files(extra, arg, cwd(), flag="/file")
    if not extra.blocks:
        raise CliError(f"/file {arg}: no text files there")
    what = extra.labels[0] if len(extra.labels) == 1 else f"{len(extra.labels)} files"
    return ("\n\n".join(extra.blocks),
            f"added {what} ({extra.total:,} bytes); it goes with your next message")

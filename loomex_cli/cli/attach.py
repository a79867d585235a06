"""Files and images that go with a message: ``-f/--file``, ``-a/--attach``, and ``@path`` or
``/file`` in the REPL.

``-f PATH|DIR|GLOB`` adds text files as delimited blocks labelled with their path, after the
prompt, the way piped stdin is added: ``<file path="src/app.py">...</file>``. A directory is
walked and a glob expanded with the grep and glob tools' rules: ``.git``, what ``.gitignore``
excludes and symlinks are skipped, and so are the credential stores and loomex's own config
directory (``tools/paths.py``), with a note. A file named explicitly is read wherever it is:
what ``-f`` sends is the user's decision. Binary files met in a walk are skipped with a note
(one named explicitly is an error). A file over :data:`PER_FILE` met in a walk is skipped
(named explicitly: an error); once :data:`TOTAL` bytes or :data:`MAX_FILES` files are added,
the rest are left out, with a note.

``-a PATH|URL`` adds an image (png, jpeg, webp or gif, known by its first bytes, not its name)
as an ``image_url`` part with a ``data:`` URL; ``file://`` URLs and paths are read, an
http(s) URL is sent as it is for the provider to fetch (loomex downloads nothing). At most
:data:`IMAGE_LIMIT` per image. A model the registry lists as text-only refuses them with exit
3 before any request; a model it does not know (a local server) gets them, with a note.

``@path`` in a REPL message does what ``-f`` does for a text file, directory or glob and what
``-a`` does for an image (cli/mentions.py finds them).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any, Callable

from .exits import CONFIG, USAGE, CliError, say

from ..engine.file_blocks import (IMAGE_LIMIT, MAX_FILES, PER_FILE, SNIFF, TOTAL,  # noqa: F401
                                  file_block, label as _label, mib as _mib, sniff_image)

_MAGIC = set("*?[")


@dataclass
class Extra:
    """What goes with one message: text-file blocks and image parts."""

    blocks: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    #: real paths of the files added (each is added once)
    seen: set[str] = field(default_factory=set)
    total: int = 0
    full: bool = False

    def __bool__(self) -> bool:
        return bool(self.blocks or self.images)

    def text(self, prompt: str) -> str:
        """The prompt, then the file blocks."""
        return "\n\n".join(p for p in [prompt, *self.blocks] if p)

    def content(self, text: str) -> Any:
        """The user message's content: ``text`` alone, or a text part then the images."""
        if not self.images:
            return text
        return ([{"type": "text", "text": text}] if text else []) + list(self.images)

    @property
    def image_tokens(self) -> int:
        from ..engine.images import IMAGE_TOKENS
        return IMAGE_TOKENS * len(self.images)

    def merge(self, other: "Extra") -> None:
        self.seen |= other.seen
        self.blocks += other.blocks
        self.images += other.images
        self.labels += other.labels
        self.total += other.total

    def summary(self) -> str:
        parts = []
        if self.blocks:
            parts.append(f"{len(self.blocks)} file{'s' if len(self.blocks) != 1 else ''} "
                         f"({self.total:,} bytes)")
        if self.images:
            parts.append(f"{len(self.images)} image{'s' if len(self.images) != 1 else ''}")
        return " and ".join(parts)


# -- the options ---------------------------------------------------------------------------

def from_options(opts: Any, setup: Any, cwd: str | None = None) -> Extra:
    """``-f`` and ``-a`` of a run or chat, read (a bad one: exit 2) and checked against the
    model (images for a text-only one: exit 3), before anything is sent."""
    extra = Extra()
    cwd = cwd or os.getcwd()
    for spec in getattr(opts, "files", None) or ():
        add_files(extra, spec, cwd, flag="-f")
    for spec in getattr(opts, "attach", None) or ():
        add_image(extra, spec, cwd)
    check_model(extra, setup.resolved, quiet=getattr(opts, "quiet", False))
    return extra


def check_model(extra: Extra, resolved: Any, quiet: bool = False) -> None:
    if not extra.images:
        return
    accepts = resolved.accepts_images
    if accepts is False:
        raise CliError(f"{resolved.model} does not take images (the models.dev catalogue "
                       "lists its input as text only); nothing was sent. Pick one that does "
                       "with -m (loomex models lists them)", CONFIG)
    if accepts is None and not quiet:
        say(f"note: whether {resolved.model} takes images is not known (it is not in the "
            "models.dev catalogue); sending them anyway")


def check_history(messages: Any, resolved: Any) -> None:
    """A conversation going on (``-c``, ``--resume``, ``/model`` in the REPL) that holds
    images the user sent, for a model the registry lists as text-only: exit 3 before any
    request, as for ``-a`` (the provider would refuse the whole request). Images a tool
    returned are not counted: such a model gets their descriptions (engine/loop.py)."""
    if resolved.accepts_images is not False:
        return
    from ..engine.images import user_images
    n = user_images(messages)
    if n:
        raise CliError(f"{resolved.model} does not take images (the models.dev catalogue lists "
                       f"its input as text only), and this conversation holds {n} "
                       f"image{'s' if n != 1 else ''}; nothing was sent. Go on with a model that "
                       "takes them (-m, /model) or start a new conversation", CONFIG)


def add_image(extra: Extra, spec: str, cwd: str, flag: str = "-a") -> None:
    """``-a SPEC``: an image file (or file:// URL) read, or an http(s) URL passed on."""
    from ..engine.images import image_part, url_part
    if spec.startswith(("http://", "https://")):
        if any(c.isspace() for c in spec):
            raise CliError(f"{_who(flag, spec)}: not a valid URL", USAGE)
        extra.images.append(url_part(spec))
        extra.labels.append(spec)
        return
    path = _file_url_path(spec, flag) if spec.startswith("file:") else spec
    full = _absolute(path, cwd)

    def limit_for(mime: str | None) -> tuple[int, str]:
        if mime is None:
            raise CliError(f"{_who(flag, spec)}: not a png, jpeg, webp or gif image (judged by "
                           "its content); text files go with -f", USAGE)
        return IMAGE_LIMIT, "images"
    data, mime = _read_regular(full, spec, flag, limit_for)
    extra.images.append(image_part(mime or "", data))
    extra.labels.append(spec)


def _file_url_path(url: str, flag: str) -> str:
    from urllib.parse import unquote, urlsplit
    u = urlsplit(url)
    if u.scheme != "file" or u.netloc not in ("", "localhost"):
        raise CliError(f"{_who(flag, url)}: only file:// URLs of this machine can be read", USAGE)
    return unquote(u.path)


# -- text files ----------------------------------------------------------------------------

def add_files(extra: Extra, spec: str, cwd: str, flag: str = "-f",
              images: bool = False) -> None:
    """``-f SPEC`` (a file, a directory or a glob) into ``extra``. ``images``: an image file
    named explicitly becomes an image part (``@pic.png`` in the REPL) instead of an error."""
    full = _absolute(spec, cwd)
    if os.path.isdir(full):
        _add_walk(extra, full, None, spec, cwd, flag)
    elif os.path.lexists(full) or not (_MAGIC & set(spec)):
        def limit_for(mime: str | None) -> tuple[int, str]:
            if mime is None:
                return PER_FILE, "text files"
            if not images:
                raise CliError(f"{_who(flag, spec)}: a binary file (an image: attach it with "
                               "-a); only text files can be added", USAGE)
            return IMAGE_LIMIT, "images"
        data, mime = _read_regular(full, spec, flag, limit_for)
        if mime is not None:  # an image mentioned in the REPL (@shot.png)
            from ..engine.images import image_part
            extra.images.append(image_part(mime, data))
            extra.labels.append(spec)
            return
        if b"\0" in data[:SNIFF]:
            raise CliError(f"{_who(flag, spec)}: a binary file; only text files can be added",
                           USAGE)
        _add_text(extra, os.path.realpath(full), data, full, cwd, flag)
    else:
        root, pattern = glob_root(spec, cwd)
        if not os.path.isdir(root):
            raise CliError(f"{_who(flag, spec)}: no such directory: {_shown(root, cwd)}", USAGE)
        if not _add_walk(extra, root, pattern, spec, cwd, flag):
            raise CliError(f"{_who(flag, spec)}: no files match", USAGE)


def _add_walk(extra: Extra, root: str, pattern: str | None, spec: str, cwd: str,
              flag: str) -> int:
    """The files under ``root`` (those matching ``pattern``), by the grep and glob tools'
    rules. Returns how many matched (added or not)."""
    from ..tools.ignore import compile_path_glob, walk
    from ..tools.paths import hard_link_to_protected, places_under
    rx = compile_path_glob(pattern) if pattern else None
    root = os.path.realpath(root)  # spelt as places_under spells what the walk skips
    skipped = places_under(root)
    binary: list[str] = []
    big: list[str] = []
    matched = 0
    for abs_path, rel in walk(root, skip=[p for p, _ in skipped]):
        if rx is not None and not rx.match(rel):
            continue
        matched += 1
        if extra.full:  # the cap was reached: the rest of the walk is not needed
            break
        data = _read_walked(abs_path)
        if data is None:
            continue
        if isinstance(data, os.stat_result):  # too big to read
            big.append(_shown(abs_path, cwd))
            continue
        if b"\0" in data[:SNIFF]:
            binary.append(_shown(abs_path, cwd))
            continue
        _add_text(extra, os.path.realpath(abs_path), data, abs_path, cwd, flag,
                  check=hard_link_to_protected)
    if rx is not None and "**" not in pattern:  # said only where the glob could reach
        skipped = [(p, w) for p, w in skipped if rx.match(os.path.relpath(p, root))]
    if skipped:
        names = ", ".join(_shown(p, cwd) for p, _ in skipped)
        say(f"{_who(flag, spec)}: skipped {names}: credentials or loomex's keys (name a file "
            "there to send it)")
    if binary:
        say(f"{_who(flag, spec)}: skipped {len(binary)} binary file{'s' if len(binary) != 1 else ''}: "
            + name_list(binary))
    if big:
        say(f"{_who(flag, spec)}: skipped {len(big)} file{'s' if len(big) != 1 else ''} over "
            f"{PER_FILE // 1024:,} KiB: " + name_list(big))
    return matched


def _add_text(extra: Extra, real: str, data: bytes, full: str, cwd: str, flag: str,
              check: Any = None) -> None:
    if real in extra.seen:
        return
    if extra.total + len(data) > TOTAL or len(extra.blocks) >= MAX_FILES:
        if not extra.full:
            say(f"{flag}: stopped at {_shown(full, cwd)}: one message takes at most "
                f"{TOTAL // (1024 * 1024)} MiB in {MAX_FILES} files; the rest were not added "
                "(name fewer files or a narrower glob)")
        extra.full = True
        return
    if check is not None:  # a walked file that is also a credential (a hard link to one)
        try:
            why = check(os.stat(full, follow_symlinks=False))
        except OSError:
            return
        if why:
            say(f"{flag}: skipped {_shown(full, cwd)}: it {why}")
            return
    extra.seen.add(real)
    extra.total += len(data)
    text = data.decode("utf-8", "replace")
    label = _label(_shown(full, cwd))
    extra.blocks.append(file_block(label, text))
    extra.labels.append(label)


def _read_regular(full: str, spec: str, flag: str,
                  limit_for: Callable[[str | None], tuple[int, str]]) -> tuple[bytes, str | None]:
    """A file named explicitly (symlinks followed): its bytes and, when it is one, its image
    type. ``limit_for(image type)`` gives the most bytes it may have and what the error calls
    such files, or raises. Not a regular file, too big, unreadable: a one-line error (exit 2)."""
    who = _who(flag, spec)
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise CliError(f"{who}: no such file", USAGE) from None
    except OSError as e:
        raise CliError(f"{who}: cannot read it: {e.strerror or e}", USAGE) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CliError(f"{who}: not a regular file", USAGE)
        try:
            head = f.read(16)
            mime = sniff_image(head)
            limit, what = limit_for(mime)
            if st.st_size > limit:
                raise CliError(f"{who}: {st.st_size / 1e6:.1f} MB; {what} over {_mib(limit)} "
                               "are not sent", USAGE)
            return head + f.read(limit + 1 - len(head)), mime
        except OSError as e:
            raise CliError(f"{who}: cannot read it: {e.strerror or e}", USAGE) from None


def _read_walked(path: str) -> bytes | os.stat_result | None:
    """A file met in a walk, not following a symlink swapped in since: its bytes, its stat
    when it is over :data:`PER_FILE`, or None (gone, unreadable, not a regular file)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size > PER_FILE:
            return st
        try:
            return f.read(PER_FILE + 1)
        except OSError:
            return None


# -- paths ---------------------------------------------------------------------------------

def _absolute(spec: str, cwd: str) -> str:
    p = os.path.expanduser(spec)
    return os.path.normpath(p if os.path.isabs(p) else os.path.join(cwd, p))


def glob_root(spec: str, cwd: str) -> tuple[str, str]:
    """(the directory a glob's walk starts from: its literal leading directories, the rest)."""
    pattern = os.path.expanduser(spec)
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    lit: list[str] = []
    while len(parts) > 1 and not (_MAGIC & set(parts[0])):
        lit.append(parts.pop(0))
    base = os.sep if os.path.isabs(pattern) else cwd
    return os.path.normpath(os.path.join(base, *lit)), "/".join(parts)


def _shown(path: str, cwd: str) -> str:
    """Relative to the working directory when inside it, else absolute."""
    from ..tools._common import display_path
    return display_path(path, cwd)



def _who(flag: str, spec: str) -> str:
    """How an error names what was asked: ``-f src/x``, ``@src/x``."""
    return f"{flag}{spec}" if flag == "@" else f"{flag} {spec}"


def name_list(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


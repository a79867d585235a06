"""Where a path really is, and the places no tool touches without a person's yes.

    real = resolve_path("./link/../x", cwd)  # absolute, ``~`` expanded, symlinks followed
    protected_place(real, write=True)        # "writes a shell start-up file (~/.bashrc)" or None
    path_danger("../../x", cwd)              # why writing there is dangerous, or None

A path is resolved the way the kernel will walk it: symlinks of its existing part followed
(a link inside the working directory that points out is outside), ``..`` taken after the
link it follows, and a file that does not exist yet placed under its deepest existing
ancestor's real path. Decisions are made on that path, and the tools operate on it (see
:mod:`.nofollow`), so a name the policy approved cannot be pointed elsewhere afterwards.

The protected places (one list: the tuples below and :func:`protected_place`): credential
stores, loomex's own config directory and ``/proc/*/environ`` ask before any read (and
write); shell and login start-up files, git's own configuration and anything under a
``.git`` directory ask before a write. They ask even under ``--yes`` or an allow rule, and
are refused where nobody can be asked. A walk (grep, glob) of a directory that holds one
skips it.
"""

from __future__ import annotations

import os
import sys

#: credentials, relative to the home directory: reading or writing them asks
SECRET_HOME = (
    ".ssh", ".aws", ".config/gcloud", ".netrc", "_netrc", ".gnupg", ".docker/config.json",
    ".kube", ".git-credentials", ".config/git/credentials", ".pgpass", ".config/gh",
    ".config/hub", ".npmrc", ".pypirc", ".azure", ".password-store", ".local/share/keyrings",
    ".vault-token", ".cargo/credentials", ".cargo/credentials.toml", ".gem/credentials",
    ".terraform.d/credentials.tfrc.json", ".config/op", ".mozilla", ".config/google-chrome",
    ".config/chromium",
)
#: run at the next shell, login or session, relative to the home directory: writing asks
STARTUP_HOME = (
    ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc",
    ".zprofile", ".zshenv", ".zlogin", ".zlogout", ".config/fish", ".inputrc", ".kshrc",
    ".mkshrc", ".cshrc", ".tcshrc", ".login", ".logout", ".xprofile", ".xinitrc",
    ".xsessionrc", ".pam_environment", ".config/environment.d", ".config/autostart",
    ".config/systemd/user",
)
#: git's own configuration runs code too (core.fsmonitor, core.pager, hooksPath, aliases)
GITCONFIG_HOME = (".gitconfig", ".config/git")
#: system-wide start-up files (writing them needs root, but a root shell may run loomex)
STARTUP_SYSTEM = (
    "/etc/profile", "/etc/profile.d", "/etc/bash.bashrc", "/etc/bashrc", "/etc/bash_completion.d",
    "/etc/zsh", "/etc/zshrc", "/etc/zprofile", "/etc/zshenv", "/etc/zlogin", "/etc/zlogout",
    "/etc/environment", "/etc/fish", "/etc/csh.cshrc", "/etc/csh.login", "/etc/gitconfig",
    "/etc/inputrc",
)
#: what writing to is harmless wherever the working directory is (checked before resolving:
#: /dev/stdout resolves to whatever stdout is). Not /dev/tty: that is the person's terminal.
SAFE_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/fd/")


class PlaceDanger(str):
    """A danger reason that always asks a person: ``--yes`` and allow rules do not cover it,
    a "yes for this session" is not offered, and without a person it is refused."""
    always_ask = True


# -- resolution ---------------------------------------------------------------------------

class Resolved(str):
    """A path :func:`resolve_path` produced before approval (a tool's ``prepare`` puts it in
    the arguments). A model's JSON can only give plain strings, so a Resolved is never
    forged; it is used as it is, not resolved again (which could follow a symlink swapped
    in since the approval)."""


def resolve_path(path: str, cwd: str) -> str:
    """``path`` as the kernel will find it: absolute against ``cwd``, ``~`` expanded,
    symlinks followed and ``..`` taken where the kernel takes it; the part that does not
    exist yet is appended to its deepest existing ancestor's real path."""
    return resolve_in(path, os.path.realpath(os.path.expanduser(cwd)))


def resolve_in(path: str, real_cwd: str) -> str:
    """:func:`resolve_path` against a working directory already resolved (a caller checking
    many paths resolves it once)."""
    p = os.path.expanduser(str(path).strip())
    return os.path.realpath(p if os.path.isabs(p) else os.path.join(real_cwd, p))


def inside(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it (both absolute and resolved)."""
    path, root = _fold(path), _fold(root).rstrip(os.sep) or os.sep
    return path == root or path.startswith(root if root == os.sep else root + os.sep)


def real_root(cwd: str) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(cwd)))


def _fold(path: str) -> str:
    # compared without case: on macOS and Windows ~/.SSH and .GIT are the same places, and
    # asking once too often elsewhere costs little
    return path.casefold() if sys.platform in ("darwin", "win32", "cygwin") else path


# -- the protected places -------------------------------------------------------------------

def places() -> list[tuple[str, str, bool]]:
    """Every protected place as ``(real path, what it is, reading asks too)``.

    Resolving ~70 places costs ~1.5 ms, so the result is kept until the environment changes
    or a directory on the way to a place changes (its inode or mtime: an entry made,
    removed, renamed or swapped for a symlink there)."""
    global _state
    import time
    state = _state  # one object, replaced whole: tools decide from several threads
    env = tuple(os.environ.get(k) for k in _ENV)
    if state is None or state[0] != env:
        lexical = _lexical_places()
        dirs = sorted({d for path, _, _ in lexical for d in _ancestors(path)})
        state = (env, lexical, dirs, None, [])
    key = [_fingerprint(d) for d in state[2]]
    # file times are coarse (a few ms): a directory changed just now may change again
    # without its mtime moving, so it is not trusted until it has been still for a while
    fresh = time.time_ns() - 200_000_000
    if state[3] != key or any(k is not None and k[1] > fresh for k in key):
        state = (*state[:3], key, [(os.path.realpath(p), what, read)
                                   for p, what, read in state[1]])
    _state = state
    return state[4]


#: what the places' paths depend on
_ENV = ("HOME", "USERPROFILE", "XDG_CONFIG_HOME", "ZDOTDIR", "LOOMEX_CONFIG_DIR")
#: (environment, lexical places, directories on the way, their fingerprints, real places)
_state: tuple | None = None  # type: ignore[type-arg]


def _ancestors(path: str) -> list[str]:
    out = []
    d = os.path.dirname(path)
    while True:
        out.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            return out
        d = parent


def _fingerprint(d: str) -> tuple[int, int] | None:
    try:
        st = os.lstat(d)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _lexical_places() -> list[tuple[str, str, bool]]:
    """The protected places as absolute paths, symlinks not yet followed."""
    homes = [os.path.expanduser("~")]
    try:  # the account's own home too, when $HOME points elsewhere
        import pwd
        homes.append(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError, AttributeError):
        pass
    homes = list(dict.fromkeys(h for h in homes if h))
    xdg = os.environ.get("XDG_CONFIG_HOME")
    zdot = os.environ.get("ZDOTDIR")
    out: list[tuple[str, str, bool]] = []

    def add(path: str, what: str, read: bool) -> None:
        out.append((os.path.abspath(path), what, read))

    def home_rel(rel: str) -> list[str]:
        paths = [os.path.join(home, rel) for home in homes]
        if xdg and rel.startswith(".config/"):
            paths.append(os.path.join(xdg, rel[len(".config/"):]))
        if zdot and rel.startswith(".z"):
            paths.append(os.path.join(zdot, rel))
        return paths

    for rel in SECRET_HOME:
        for p in home_rel(rel):
            add(p, f"a credential store (~/{rel})", True)
    for rel in STARTUP_HOME:
        for p in home_rel(rel):
            add(p, f"a shell start-up file (~/{rel})", False)
    for rel in GITCONFIG_HOME:
        for p in home_rel(rel):
            add(p, f"git's configuration (~/{rel})", False)
    for p in STARTUP_SYSTEM:
        add(p, f"a shell start-up file ({p})", False)
    for p in loomex_config_dirs():
        add(p, "loomex's config directory (API keys and settings)", True)
    return out


def loomex_config_dirs() -> list[str]:
    """The config directory loomex uses, and the platform's default one when
    ``$LOOMEX_CONFIG_DIR`` points elsewhere (its keys are keys all the same)."""
    from ..wire.config import config_dir
    dirs = [str(config_dir())]
    if os.environ.get("LOOMEX_CONFIG_DIR"):
        import platformdirs
        dirs.append(platformdirs.user_config_dir("loomex", appauthor=False))
    return dirs


def protected_place(path: str, *, write: bool, walk: bool = False,
                    known: list[tuple[str, str, bool]] | None = None) -> PlaceDanger | None:
    """Why reading (``write=False``) or writing the resolved ``path`` always asks, or None.
    ``walk``: the read searches a whole directory (grep, glob), so all of ``/proc`` counts
    (every process's environment is in there), not only its ``environ`` files. ``known``:
    :func:`places` taken once by a caller that checks many paths in one decision."""
    verb = "writes" if write else "reads"
    at, _ = _index(places() if known is None else known)
    best = None  # the first place in the list's order that holds ``path``, as inside() would
    d = _fold(path)
    while True:
        for i, what, read in at.get(d, ()):
            if (write or read) and (best is None or i < best[0]):
                best = (i, what)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    if best is not None:
        return PlaceDanger(f"{verb} {best[1]}")
    parts = _fold(path).split(os.sep)
    if write and ".git" in parts:
        return PlaceDanger("writes inside .git")
    if not write and len(parts) >= 2 and parts[1] == "proc" and _PROC and (
            walk or (len(parts) >= 4 and parts[-1] == "environ")):
        return PlaceDanger("reads a process's environment (it holds API keys)")
    return None


def holder_of(path: str, known: list[tuple[str, str, bool]]) -> str | None:
    """What read-protected place lies strictly below the resolved ``path`` (a directory
    holding keys.toml, ~/.ssh, ...), or None."""
    _, below = _index(known)
    return below.get(_fold(path))


#: (the places list it was made from, {folded place: [(order, what, read)]},
#: {folded directory strictly above a read place: what the first such place is})
_IDX: tuple | None = None  # type: ignore[type-arg]


def _index(known: list[tuple[str, str, bool]]) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Lookups by path for ``known``: a path is checked against its few ancestors instead of
    against every place (a bash line names dozens of words; :func:`places` has ~30)."""
    global _IDX
    idx = _IDX
    if idx is not None and idx[0] is known:
        return idx[1], idx[2]
    at: dict[str, list[tuple[int, str, bool]]] = {}
    below: dict[str, tuple[int, str]] = {}
    for i, (place, what, read) in enumerate(known):
        f = _fold(place).rstrip(os.sep) or os.sep
        at.setdefault(f, []).append((i, what, read))
        if read:
            d = f
            while (parent := os.path.dirname(d)) != d:
                if parent not in below or below[parent][0] > i:
                    below[parent] = (i, what)
                d = parent
    holders = {d: what for d, (_, what) in below.items()}
    _IDX = (known, at, holders)
    return at, holders


#: whether /proc is the process filesystem here (its */environ files hold the environment)
_PROC = sys.platform.startswith("linux") or os.path.isdir("/proc/self")


def places_under(root: str) -> list[tuple[str, str]]:
    """The read-protected places that exist strictly below the resolved ``root``, as
    ``(real path, what it is)``: a walk of ``root`` skips them."""
    seen: dict[str, str] = {}
    for place, what, read in places():
        if read and place != root and inside(place, root) and os.path.lexists(place):
            seen.setdefault(place, what)
    if _PROC and root == os.sep:
        seen["/proc"] = "every process's environment"
    return sorted(seen.items())


def hard_link_to_protected(st: os.stat_result) -> PlaceDanger | None:
    """When a file with more than one name (``st`` from its open descriptor) is also a file
    of a read-protected place (a hard link made to ``keys.toml`` or ``~/.ssh/id_ed25519``),
    why reading it asks; else None. Files of ordinary single names cost nothing."""
    if st.st_nlink < 2:
        return None
    for place, what, read in places():
        if read and _holds_inode(place, st.st_dev, st.st_ino, depth=2):
            return PlaceDanger(f"reads {what} (through a hard link)")
    return None


def _holds_inode(path: str, dev: int, ino: int, depth: int, budget: list[int] | None = None
                 ) -> bool:
    budget = budget if budget is not None else [500]  # entries looked at, per place
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if st.st_dev == dev and st.st_ino == ino:
        return True
    if depth == 0 or not os.path.isdir(path) or os.path.islink(path):
        return False
    try:
        names = os.listdir(path)
    except OSError:
        return False
    for name in names:
        budget[0] -= 1
        if budget[0] < 0:
            return False
        if _holds_inode(os.path.join(path, name), dev, ino, depth - 1, budget):
            return True
    return False


def skipped_note(skipped: list[tuple[str, str]], root: str) -> str:
    """One line naming the protected places a walk left out."""
    names = ", ".join(os.path.relpath(p, root) for p, _ in skipped)
    return (f"(not searched: {names}, which hold credentials or loomex's keys; name one as "
            "the path to be asked for it)")


# -- writing ----------------------------------------------------------------------------------

def path_danger(path: str, root: str, *, temp_ok: bool = False) -> str | None:
    """Why writing ``path`` is dangerous, or None. ``path`` may be relative (to ``root``, the
    working directory) and may go through symlinks; it is resolved first. A protected place
    gives a :class:`PlaceDanger` (always asks); a path outside ``root`` gives "writes outside
    the working directory" (unless ``temp_ok`` and it is in a temporary directory)."""
    raw = os.path.expanduser(str(path).strip())
    if os.path.isabs(raw) and (os.path.normpath(raw) in SAFE_TARGETS
                               or os.path.normpath(raw).startswith(SAFE_TARGETS[-1])):
        return None
    real = resolve_path(raw, root)
    why = protected_place(real, write=True)
    if why:
        return why
    if temp_ok:
        import tempfile
        for tmp in {"/tmp", "/var/tmp", tempfile.gettempdir()}:
            if inside(real, os.path.realpath(tmp)):
                return None
    if not inside(real, real_root(root)):
        return "writes outside the working directory"
    return None

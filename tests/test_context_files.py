"""AGENTS.md discovery (engine/context_files.py) on a real file system: the order, the caps,
and what an untrusted repository can try (symlinks out, FIFOs, binary, huge files)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from loomex_cli.engine import context_files as cf


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    (r / ".git").mkdir(parents=True)
    (r / "a" / "b").mkdir(parents=True)
    return r


def names(files):
    return [(f.path, f.skipped) for f in files]


def test_order_global_root_down_to_cwd_and_claude_fallback(repo: Path, tmp_path: Path) -> None:
    glob = tmp_path / "config"
    glob.mkdir()
    (glob / "AGENTS.md").write_text("global")
    (repo / "AGENTS.md").write_text("root")
    (repo / "CLAUDE.md").write_text("not this one: AGENTS.md is there")
    (repo / "a" / "CLAUDE.md").write_text("middle")
    (repo / "a" / "b" / "AGENTS.md").write_text("here")
    (tmp_path / "AGENTS.md").write_text("above the repository: never read")
    files = cf.discover(str(repo / "a" / "b"), glob)
    assert [f.path for f in files] == [str(glob / "AGENTS.md"), str(repo / "AGENTS.md"),
                                       str(repo / "a" / "CLAUDE.md"),
                                       str(repo / "a" / "b" / "AGENTS.md")]
    assert [f.text for f in files] == ["global", "root", "middle", "here"]
    assert [f.scope for f in files] == ["global", "project", "project", "project"]


def test_outside_a_repository_only_the_cwd(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("parent")
    d = tmp_path / "sub"
    d.mkdir()
    (d / "AGENTS.md").write_text("cwd")
    assert cf.git_root(str(d)) is None
    assert [f.text for f in cf.discover(str(d))] == ["cwd"]


def test_git_file_of_a_worktree_marks_the_root(tmp_path: Path) -> None:
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text("gitdir: /elsewhere\n")
    (tmp_path / "wt" / "x").mkdir()
    (tmp_path / "wt" / "AGENTS.md").write_text("wt root")
    assert [f.text for f in cf.discover(str(tmp_path / "wt" / "x"))] == ["wt root"]


def test_section_format_exactly(repo: Path) -> None:
    (repo / "AGENTS.md").write_text("\nUse tabs.\n\n")
    files = cf.discover(str(repo))
    assert cf.with_context("Be brief.", files) == (
        "Be brief.\n\n# Project instructions\n\n" + cf.INTRO + "\n\n"
        f"## {repo}/AGENTS.md\n\nUse tabs.")
    assert cf.with_context(None, files).startswith("# Project instructions\n\n")
    assert cf.with_context("Be brief.", []) == "Be brief."


def test_per_file_cap_cuts_with_a_note(repo: Path) -> None:
    (repo / "AGENTS.md").write_text("x" * 100 + "\n")
    [f] = cf.discover(str(repo), max_file=40)
    assert f.cut and f.used == 40 and f.size == 101 and f.text == "x" * 40
    section = cf.prompt_section([f])
    assert section.endswith("x" * 40 + "\n\n[loomex: this file has 101 bytes; only the first "
                            "40 are included]")
    assert cf.cut_note(f) == f"{f.path} is cut to its first 40 of 101 bytes in the prompt"


def test_cut_inside_a_utf8_character_drops_the_half(repo: Path) -> None:
    (repo / "AGENTS.md").write_text("é" * 30)  # 60 bytes
    [f] = cf.discover(str(repo), max_file=41)
    assert f.text == "é" * 20 and f.used == 40 and f.cut


def test_total_cap_cuts_the_later_and_leaves_out_the_rest(repo: Path, tmp_path: Path) -> None:
    (repo / "AGENTS.md").write_text("r" * 30)
    (repo / "a" / "AGENTS.md").write_text("a" * 30)
    (repo / "a" / "b" / "AGENTS.md").write_text("b" * 30)
    files = cf.discover(str(repo / "a" / "b"), max_file=100, max_total=50)
    assert [(f.used, f.cut, f.skipped) for f in files] == [
        (30, False, None), (20, True, None), (0, False, "over the total cap")]


def test_symlink_out_of_the_repository_is_not_followed(repo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("PRIVATE")
    os.symlink(secret, repo / "AGENTS.md")
    os.symlink("../../../secret.txt", repo / "a" / "b" / "AGENTS.md")
    files = cf.discover(str(repo / "a" / "b"))
    assert [f.skipped for f in files] == ["a symlink out of the repository"] * 2
    assert "PRIVATE" not in cf.prompt_section(files)


def test_symlink_inside_the_repository_is_followed(repo: Path) -> None:
    (repo / "docs.md").write_text("shared rules")
    os.symlink("docs.md", repo / "AGENTS.md")
    assert [f.text for f in cf.discover(str(repo))] == ["shared rules"]


def test_symlink_out_of_the_cwd_outside_a_repository(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("PRIVATE")
    d = tmp_path / "d"
    d.mkdir()
    os.symlink(tmp_path / "secret", d / "AGENTS.md")
    [f] = cf.discover(str(d))
    assert f.text is None and f.skipped == "a symlink out of the repository"


def test_fifo_device_and_directory_are_not_read(repo: Path) -> None:
    os.mkfifo(repo / "AGENTS.md")  # opening it for reading would block without a writer
    (repo / "a" / "AGENTS.md").mkdir()
    os.symlink("/dev/zero", repo / "a" / "b" / "CLAUDE.md")  # outside: refused anyway
    done: list = []
    t = threading.Thread(target=lambda: done.append(cf.discover(str(repo / "a" / "b"))),
                         daemon=True)
    t.start()
    t.join(10)
    assert done, "discovery blocked on a FIFO"
    assert [f.skipped for f in done[0]] == ["not a regular file", "not a regular file",
                                            "a symlink out of the repository"]


def test_binary_and_not_utf8_are_skipped(repo: Path) -> None:
    (repo / "AGENTS.md").write_bytes(b"\x7fELF\x00\x01")
    (repo / "a" / "AGENTS.md").write_bytes(b"caf\xe9 latin-1")
    files = cf.discover(str(repo / "a"))
    assert [f.skipped for f in files] == ["binary", "not UTF-8"]
    assert cf.prompt_section(files) == ""


def test_a_huge_file_is_not_read_whole(repo: Path) -> None:
    with open(repo / "AGENTS.md", "wb") as fh:
        fh.truncate(1 << 30)  # 1 GiB, sparse: only the cap is read (NULs: binary)
    [f] = cf.discover(str(repo))
    assert f.size == 1 << 30 and f.skipped == "binary"


def test_heading_path_escapes_control_characters(tmp_path: Path) -> None:
    d = tmp_path / "evil\n## fake"
    d.mkdir()
    (d / "AGENTS.md").write_text("x")
    section = cf.prompt_section(cf.discover(str(d)))
    assert "\n## fake" not in section and "evil\\n## fake/AGENTS.md" in section


def test_nothing_found_costs_no_reads(tmp_path: Path) -> None:
    assert cf.discover(str(tmp_path), tmp_path / "no-config") == []


def test_a_symlink_swapped_in_after_the_check_is_not_followed(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("PRIVATE")
    (repo / "AGENTS.md").write_text("fine")
    f = cf._candidate(str(repo), str(repo))
    (repo / "AGENTS.md").unlink()
    os.symlink(tmp_path / "secret", repo / "AGENTS.md")  # between the look and the read
    cf._read(f, 100)
    assert f.text is None and f.skipped == "unreadable"

"""read_file and write_file on real files."""

from __future__ import annotations

import os
import stat

import pytest

from loomex_cli import RunContext, ToolError
from loomex_cli.tools.files import ReadFileTool, WriteFileTool


def ctx_for(path) -> RunContext:
    return RunContext(agent=None, messages=[], deps={"cwd": str(path)})  # type: ignore[arg-type]


def read(tmp_path, path, **kw):
    return ReadFileTool().execute({"path": str(path), **kw}, ctx_for(tmp_path))


def write(tmp_path, path, content):
    return WriteFileTool().execute({"path": str(path), "content": content}, ctx_for(tmp_path))


# -- read_file ----------------------------------------------------------------------------

def test_read_numbers_lines_like_cat_n(tmp_path):
    (tmp_path / "a.txt").write_text("alpha\nbeta\n\tgamma\n")
    out = read(tmp_path, "a.txt")
    assert out.splitlines()[:3] == ["     1\talpha", "     2\tbeta", "     3\t\tgamma"]
    assert out.splitlines()[-1] == "(3 lines; end of file)"


def test_read_relative_to_the_working_directory_and_absolute(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.py").write_text("x = 1")
    assert "     1\tx = 1" in read(tmp_path, "sub/f.py")
    assert "     1\tx = 1" in read(tmp_path / "elsewhere", tmp_path / "sub" / "f.py")


def test_read_default_limit_and_how_to_read_on(tmp_path):
    (tmp_path / "big.txt").write_text("".join(f"line {i}\n" for i in range(1, 5001)))
    out = read(tmp_path, "big.txt")
    lines = out.splitlines()
    assert len(lines) == 2001
    assert lines[1999] == "  2000\tline 2000"
    assert lines[-1] == "(lines 1-2,000 of 5,000; read on with offset=2001)"
    out = read(tmp_path, "big.txt", offset=4999, limit=10)
    assert out.splitlines() == ["  4999\tline 4999", "  5000\tline 5000",
                                "(lines 4,999-5,000 of 5,000; end of file)"]
    out = read(tmp_path, "big.txt", offset=10, limit=2)
    assert out.splitlines()[-1] == "(lines 10-11 of 5,000; read on with offset=12)"


def test_read_cuts_long_lines(tmp_path):
    (tmp_path / "long.txt").write_text("x" * 5000 + "\nshort\n")
    out = read(tmp_path, "long.txt")
    first = out.splitlines()[0]
    assert first.startswith("     1\t" + "x" * 2000)
    assert "x" * 2001 not in first
    assert "line cut: 5,000 characters" in first
    assert "     2\tshort" in out


def test_read_windows_line_ends_and_bad_utf8(tmp_path):
    (tmp_path / "w.txt").write_bytes(b"one\r\ntwo\r\ncaf\xe9\n")
    out = read(tmp_path, "w.txt")
    assert "     1\tone\n     2\ttwo\n" in out
    assert "     3\tcaf\ufffd" in out


def test_read_offset_past_the_end_and_bad_limit(tmp_path):
    (tmp_path / "s.txt").write_text("a\nb\n")
    with pytest.raises(ToolError, match="offset 5 is past the end.*2 lines"):
        read(tmp_path, "s.txt", offset=5)
    with pytest.raises(ToolError, match="limit"):
        read(tmp_path, "s.txt", limit=0)


def test_read_empty_file(tmp_path):
    (tmp_path / "e.txt").write_text("")
    assert read(tmp_path, "e.txt") == "(e.txt is empty)"


def test_read_binary_file_is_an_error(tmp_path):
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100))
    with pytest.raises(ToolError, match="img.png is a binary file"):
        read(tmp_path, "img.png")


def test_read_directory_is_an_error(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(ToolError, match="d is a directory"):
        read(tmp_path, "d")


def test_read_missing_file_suggests_near_names(tmp_path):
    (tmp_path / "config.yaml").write_text("a: 1\n")
    (tmp_path / "README.md").write_text("hi\n")
    with pytest.raises(ToolError) as e:
        read(tmp_path, "config.yml")
    assert "file not found: config.yml" in str(e.value)
    assert "Did you mean: config.yaml?" in str(e.value)
    with pytest.raises(ToolError, match="readme.md.*README.md"):
        read(tmp_path, "readme.md")
    with pytest.raises(ToolError) as e:
        read(tmp_path, "zzzzzz.q")
    assert "Did you mean" not in str(e.value)


def test_read_missing_directory(tmp_path):
    with pytest.raises(ToolError, match="does not exist either"):
        read(tmp_path, "no/such/dir/f.txt")


# -- write_file ---------------------------------------------------------------------------

def test_write_creates_parents_and_reports(tmp_path):
    out = write(tmp_path, "a/b/c.txt", "one\ntwo\n")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "one\ntwo\n"
    assert out == "Created a/b/c.txt (8 bytes, 2 lines)."
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "a/b/c.txt").st_mode) == 0o666 & ~umask


def test_write_replaces_atomically_and_keeps_the_mode(tmp_path):
    f = tmp_path / "run.sh"
    f.write_text("#!/bin/sh\necho old\n")
    f.chmod(0o750)
    inode_before = os.stat(f).st_ino
    out = write(tmp_path, "run.sh", "#!/bin/sh\necho new")
    assert f.read_text() == "#!/bin/sh\necho new"
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o750
    assert os.stat(f).st_ino != inode_before  # a new file renamed over the old one
    assert out == "Replaced run.sh (18 bytes, 2 lines; it had 19 bytes)."
    assert sorted(os.listdir(tmp_path)) == ["run.sh"]  # no temp file left behind


def test_write_unicode_and_exact_bytes(tmp_path):
    write(tmp_path, "u.txt", "héllo\r\nwörld")
    assert (tmp_path / "u.txt").read_bytes() == "héllo\r\nwörld".encode()


def test_write_a_lone_surrogate_from_a_model(tmp_path):
    write(tmp_path, "s.txt", "a\ud83db")
    assert (tmp_path / "s.txt").read_text() == "a\ufffdb"


def test_write_through_a_symlink_updates_its_target(tmp_path):
    (tmp_path / "real.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to("real.txt")
    write(tmp_path, "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_text() == "new"


def test_write_to_a_directory_is_an_error(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(ToolError, match="is a directory"):
        write(tmp_path, "d", "x")


def test_write_empty_path_is_an_error(tmp_path):
    with pytest.raises(ToolError, match="path is empty"):
        write(tmp_path, "", "x")


def test_write_subject_is_the_resolved_path(tmp_path):
    t = WriteFileTool()
    assert t.risk == "write"
    assert t.approval_subject({"path": "x/../y.txt"}, ctx_for(tmp_path)) == str(tmp_path / "y.txt")

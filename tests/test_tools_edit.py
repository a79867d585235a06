"""edit_file on real files."""

from __future__ import annotations

import os
import stat
import time

import pytest

from loomex_cli import RunContext, ToolError
from loomex_cli.tools.edit import EditFileTool

SRC = """\
def greet(name):
    message = "hello " + name
    print(message)
    return message


def part(x):
    return x + 1


def other(x):
    return x + 1
"""


def ctx_for(path) -> RunContext:
    return RunContext(agent=None, messages=[], deps={"cwd": str(path)})  # type: ignore[arg-type]


def edit(tmp_path, path, old, new, **kw):
    return EditFileTool().execute({"path": path, "old_string": old, "new_string": new, **kw},
                                  ctx_for(tmp_path))


@pytest.fixture
def src(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(SRC)
    return f


def test_single_replacement_with_diff(tmp_path, src):
    out = edit(tmp_path, "m.py", '"hello " + name', 'f"hello {name}"')
    assert src.read_text() == SRC.replace('"hello " + name', 'f"hello {name}"')
    assert out.startswith("Edited m.py: 1 replacement at line 2.")
    assert "--- a/m.py" in out and "+++ b/m.py" in out
    assert '-    message = "hello " + name' in out
    assert '+    message = f"hello {name}"' in out
    assert "@@" in out


def test_not_found_shows_the_closest_region(tmp_path, src):
    before = src.read_text()
    with pytest.raises(ToolError) as e:
        edit(tmp_path, "m.py", 'message = "hallo " + name\n  print(message)', "x")
    msg = str(e.value)
    assert "old_string was not found in m.py" in msg
    assert "closest region" in msg
    assert "     2\t    message = \"hello \" + name" in msg
    assert "     3\t    print(message)" in msg
    assert src.read_text() == before


def test_not_found_because_of_indentation_says_so(tmp_path, src):
    with pytest.raises(ToolError, match="except for indentation"):
        edit(tmp_path, "m.py", "def part(x):\nreturn x + 1", "nope")


def test_nothing_alike(tmp_path, src):
    with pytest.raises(ToolError, match="Nothing in the file looks like it"):
        edit(tmp_path, "m.py", "ZZZZQQQQ####", "x")


def test_several_matches_need_replace_all(tmp_path, src):
    with pytest.raises(ToolError) as e:
        edit(tmp_path, "m.py", "return x + 1", "return x + 2")
    assert "occurs 2 times" in str(e.value)
    assert "at lines 8, 12" in str(e.value)
    assert src.read_text() == SRC
    out = edit(tmp_path, "m.py", "return x + 1", "return x + 2", replace_all=True)
    assert src.read_text().count("return x + 2") == 2
    assert out.startswith("Edited m.py: 2 replacements.")


def test_mode_kept_and_atomic(tmp_path, src):
    src.chmod(0o700)
    edit(tmp_path, "m.py", "def greet", "def welcome")
    assert stat.S_IMODE(os.stat(src).st_mode) == 0o700
    assert os.listdir(tmp_path) == ["m.py"]


def test_windows_line_ends(tmp_path):
    f = tmp_path / "w.txt"
    f.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    edit(tmp_path, "w.txt", "one\ntwo", "uno\ndos")
    assert f.read_bytes() == b"uno\r\ndos\r\nthree\r\n"


def test_non_utf8_bytes_survive(tmp_path):
    f = tmp_path / "l1.txt"
    f.write_bytes(b"caf\xe9 au lait\nprice: 2\n")
    edit(tmp_path, "l1.txt", "price: 2", "price: 3")
    assert f.read_bytes() == b"caf\xe9 au lait\nprice: 3\n"


def test_argument_errors(tmp_path, src):
    with pytest.raises(ToolError, match="old_string is empty"):
        edit(tmp_path, "m.py", "", "x")
    with pytest.raises(ToolError, match="the same"):
        edit(tmp_path, "m.py", "def", "def")
    with pytest.raises(ToolError, match="file not found: mm.py. Did you mean: m.py"):
        edit(tmp_path, "mm.py", "a", "b")
    (tmp_path / "b.bin").write_bytes(b"a\0b")
    with pytest.raises(ToolError, match="binary"):
        edit(tmp_path, "b.bin", "a", "b")
    (tmp_path / "d").mkdir()
    with pytest.raises(ToolError, match="directory"):
        edit(tmp_path, "d", "a", "b")


def test_big_file_closest_region_is_fast(tmp_path):
    f = tmp_path / "big.py"
    lines = [f"value_{i} = compute({i}, 'abc')" for i in range(30_000)]
    f.write_text("\n".join(lines) + "\n")
    t0 = time.monotonic()
    with pytest.raises(ToolError) as e:
        edit(tmp_path, "big.py", "value_20000 = compute(20000, 'abd')\n"
                                 "value_20001 = compute(20001, 'abc')", "x")
    assert time.monotonic() - t0 < 2
    assert " 20002\tvalue_20001" in str(e.value)


def test_diff_is_kept_small(tmp_path):
    f = tmp_path / "many.txt"
    f.write_text("".join(f"x{i}\n" for i in range(300)))
    out = edit(tmp_path, "many.txt", "x", "y", replace_all=True)
    assert "more diff lines not shown" in out
    assert len(out.splitlines()) < 90


def test_shape():
    t = EditFileTool()
    assert t.name == "edit_file" and t.risk == "write"
    assert t.parameters["required"] == ["path", "old_string", "new_string"]

"""grep (ripgrep and the Python fallback, same output), glob, and the .gitignore matcher."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from loomex_cli import RunContext, ToolError
from loomex_cli.tools import grep as grep_mod
from loomex_cli.tools.glob_tool import GlobTool
from loomex_cli.tools.grep import GrepTool
from loomex_cli.tools.ignore import IgnoreStack, Rules, compile_path_glob, walk

REQUIRE_ALL = os.environ.get("LOOMEX_REQUIRE_ALL", "") not in ("", "0")


def ctx_for(path) -> RunContext:
    return RunContext(agent=None, messages=[], deps={"cwd": str(path)})  # type: ignore[arg-type]


def need_rg() -> str:
    rg = shutil.which("rg")
    if rg is None:
        if REQUIRE_ALL:
            pytest.fail("ripgrep (rg) is not installed (apt-get install ripgrep)", pytrace=False)
        pytest.skip("ripgrep (rg) is not installed")
    return rg


@pytest.fixture(params=["python", "rg"])
def engine(request, monkeypatch):
    """Runs a test once with the Python search and once with ripgrep."""
    if request.param == "python":
        monkeypatch.setattr(grep_mod, "USE_RG", False)
    else:
        need_rg()
        monkeypatch.setattr(grep_mod, "USE_RG", True)
    return request.param


def make_tree(root):
    files = {
        ".gitignore": "build/\n*.log\n!keep.log\n/top.txt\ndocs/**/*.tmp\n# a comment\n",
        "src/app.py": "import os\n\ndef main():\n    print('hello world')\n    return 0\n",
        "src/util.py": "def helper():\n    return 'Hello again'\n",
        "src/build/gen.py": "hello = 'generated'\n",
        "src/nested/.gitignore": "secret.txt\n!*.keep\n",
        "src/nested/secret.txt": "hello secret\n",
        "src/nested/visible.txt": "hello visible\n",
        "z.log": "hello log\n",
        "keep.log": "hello kept log\n",
        "top.txt": "hello top\n",
        "sub/top.txt": "hello sub top\n",
        "docs/a/b/c.tmp": "hello tmp\n",
        "docs/a/d.md": "hello doc\n",
        ".hidden/h.txt": "hello hidden\n",
        ".git/config": "hello from git internals\n",
        "a-b.txt": "hello dash\n",
        "a.b.txt": "hello dot\n",
        "A.txt": "hello upper\n",
        "_u.txt": "hello underscore\n",
    }
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (root / "bin.dat").write_bytes(b"hello\x00binary\n")
    (root / "long.txt").write_text("hello " + "x" * 3000 + "\n")
    return root


def grep(tmp_path, **args):
    return GrepTool().execute(args, ctx_for(tmp_path))


# -- the .gitignore matcher ------------------------------------------------------------

@pytest.mark.parametrize("pattern,path,is_dir,expected", [
    ("*.log", "a.log", False, True),
    ("*.log", "deep/er/a.log", False, True),
    ("*.log", "a.logx", False, None),
    ("build/", "build", True, True),
    ("build/", "build", False, None),          # a file named build: not a directory pattern
    ("build/", "src/build", True, True),
    ("/top.txt", "top.txt", False, True),
    ("/top.txt", "sub/top.txt", False, None),   # anchored
    ("doc/*.txt", "doc/a.txt", False, True),
    ("doc/*.txt", "doc/x/a.txt", False, None),  # * stops at /
    ("doc/**/*.txt", "doc/x/y/a.txt", False, True),
    ("doc/**/*.txt", "doc/a.txt", False, True),
    ("**/foo", "a/b/foo", False, True),
    ("**/foo", "foo", False, True),
    ("abc/**", "abc/x/y", False, True),
    ("abc/**", "abc", True, None),
    ("a?c", "abc", False, True),
    ("[ab]x", "bx", False, True),
    ("[!ab]x", "bx", False, None),
    ("\\#hash", "#hash", False, True),
    ("\\!bang", "!bang", False, True),
    ("trailing   ", "trailing", False, True),
])
def test_gitignore_patterns(pattern, path, is_dir, expected):
    rule = Rules([pattern]).match(path, is_dir)
    assert (None if rule is None else not rule.negated) == expected


def test_gitignore_negation_last_match_wins():
    rules = Rules(["*.log", "!keep.log", "# comment", ""])
    assert len(rules.rules) == 2
    assert rules.match("keep.log", False).negated  # re-included
    assert not rules.match("x.log", False).negated
    assert Rules(["!keep.log", "*.log"]).match("keep.log", False).negated is False


def test_nested_gitignore_overrides_parent(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "src" / "nested" / "x.log").write_text("x")
    (tmp_path / "src" / "nested" / "x.log.keep").write_text("x")
    rels = [rel for _, rel in walk(str(tmp_path))]
    assert "src/nested/visible.txt" in rels
    assert "src/nested/secret.txt" not in rels
    assert "src/nested/x.log" not in rels
    assert "src/build/gen.py" not in rels and ".git/config" not in rels
    assert "top.txt" not in rels and "sub/top.txt" in rels
    assert "keep.log" in rels and "z.log" not in rels
    assert "docs/a/b/c.tmp" not in rels and "docs/a/d.md" in rels
    assert rels == sorted(rels, key=lambda r: r.split("/"))  # name order, depth first


def test_parent_gitignore_applies_to_a_subdirectory_walk(tmp_path):
    make_tree(tmp_path)
    (tmp_path / ".git").mkdir(exist_ok=True)
    (tmp_path / "src" / "debug.log").write_text("x")
    rels = [rel for _, rel in walk(str(tmp_path / "src"))]
    assert "app.py" in rels and "debug.log" not in rels and "build/gen.py" not in rels
    stack = IgnoreStack.for_root(str(tmp_path / "src"))
    assert stack.ignored("debug.log", False)


def test_path_globs():
    assert compile_path_glob("**/*.{ts,tsx}").match("a/b.tsx")
    assert compile_path_glob("{src,lib}/*.py").match("lib/x.py")
    assert not compile_path_glob("{src,lib}/*.py").match("doc/x.py")
    assert compile_path_glob("a{b").match("a{b")
    assert compile_path_glob("./**").match("src/x.py")
    assert compile_path_glob("*.py").match("x.py")
    assert not compile_path_glob("*.py").match("src/x.py")
    assert compile_path_glob("**/*.py").match("src/a/x.py")
    assert compile_path_glob("**/*.py").match("x.py")
    assert compile_path_glob("src/**/test_*.py").match("src/a/b/test_x.py")


# -- grep ----------------------------------------------------------------------------

def test_grep_basic(tmp_path, engine):
    make_tree(tmp_path)
    out = grep(tmp_path, pattern="hello")
    lines = out.splitlines()
    assert "src/app.py:4:     print('hello world')" in lines
    assert "sub/top.txt:1: hello sub top" in lines
    assert ".hidden/h.txt:1: hello hidden" in lines
    assert "keep.log:1: hello kept log" in lines
    assert "src/nested/visible.txt:1: hello visible" in lines
    joined = "\n".join(lines)
    for hidden in ("git internals", "generated", "secret", "hello log", "hello top",
                   "hello tmp", "binary", "Hello again"):
        assert hidden not in joined, hidden
    assert lines[-1].startswith("(") and "matching lines in" in lines[-1]
    long = next(line for line in lines if line.startswith("long.txt:1:"))
    assert "cut: 3,006 characters" in long and len(long) < 600


def test_grep_ignore_case_glob_and_context(tmp_path, engine):
    make_tree(tmp_path)
    out = grep(tmp_path, pattern="HELLO", ignore_case=True, glob="*.py")
    assert "src/util.py:2:     return 'Hello again'" in out
    assert "a-b.txt" not in out and "src/build" not in out
    out = grep(tmp_path, pattern="print", glob="src/*.py", context=1)
    assert out.splitlines()[:3] == ["src/app.py-3- def main():",
                                    "src/app.py:4:     print('hello world')",
                                    "src/app.py-5-     return 0"]


def test_grep_context_separators(tmp_path, engine):
    (tmp_path / "f.txt").write_text("".join(f"{'m' if i in (2, 3, 9) else 'x'}{i}\n"
                                            for i in range(1, 15)))
    out = grep(tmp_path, pattern="^m", context=1)
    assert out.splitlines()[:-1] == [
        "f.txt-1- x1", "f.txt:2: m2", "f.txt:3: m3", "f.txt-4- x4", "--",
        "f.txt-8- x8", "f.txt:9: m9", "f.txt-10- x10"]


def test_grep_result_limit(tmp_path, engine):
    (tmp_path / "a.txt").write_text("".join(f"hit {i}\n" for i in range(50)))
    (tmp_path / "b.txt").write_text("hit b\n")
    out = grep(tmp_path, pattern="hit", max_results=10)
    lines = out.splitlines()
    assert lines[:10] == [f"a.txt:{i + 1}: hit {i}" for i in range(10)]
    assert "stopped at 10 matching lines" in lines[-1]
    assert len(lines) == 11
    (tmp_path / "a.txt").write_text("".join(f"hit {i}\n" if i % 5 == 0 else f"x{i}\n"
                                            for i in range(100)))
    out = grep(tmp_path, pattern="hit", max_results=10, context=2)
    lines = out.splitlines()
    # the 10th match is line 46: its after-context stays, the 11th's before-context goes
    assert lines[-4:-1] == ["a.txt:46: hit 45", "a.txt-47- x46", "a.txt-48- x47"]
    assert sum(1 for line in lines if line.startswith("a.txt:")) == 10
    assert "stopped at 10 matching lines" in lines[-1]


def test_grep_default_limit_is_200(tmp_path, engine):
    (tmp_path / "a.txt").write_text("hit\n" * 500)
    out = grep(tmp_path, pattern="hit")
    assert "stopped at 200 matching lines" in out
    assert out.count("a.txt:") == 200


def test_grep_subdirectory_and_single_file(tmp_path, engine):
    make_tree(tmp_path)
    out = grep(tmp_path, pattern="def", path="src")
    assert out.splitlines()[0] == "(paths relative to src)"
    assert "app.py:3: def main():" in out
    out = grep(tmp_path, pattern="def", path="src/util.py")
    assert out.splitlines()[0] == "src/util.py:1: def helper():"


def test_grep_no_match_and_errors(tmp_path, engine):
    make_tree(tmp_path)
    assert grep(tmp_path, pattern="nothing-like-this") == "No matches for /nothing-like-this/."
    with pytest.raises(ToolError, match="not found"):
        grep(tmp_path, pattern="x", path="missing")
    with pytest.raises(ToolError, match="pattern is empty"):
        grep(tmp_path, pattern="")
    with pytest.raises(ToolError, match="invalid regular expression|regex"):
        grep(tmp_path, pattern="(unclosed")


def test_grep_same_output_from_rg_and_python(tmp_path, monkeypatch):
    need_rg()
    make_tree(tmp_path)
    (tmp_path / "src" / "many.py").write_text("".join(f"line {i} hello\n" for i in range(40)))
    cases = [dict(pattern="hello"), dict(pattern="hello", context=2),
             dict(pattern="h.llo", ignore_case=True, glob="*.txt"),
             dict(pattern="hello", glob="**/*.py", max_results=7, context=1),
             dict(pattern="^def ", path="src"), dict(pattern="return", glob="src/**"),
             dict(pattern="hello", glob="*.log"), dict(pattern="hello", glob="!*.txt"),
             dict(pattern="hello", glob="*.{py,md}"), dict(pattern="o", glob="src/{app,util}.py")]
    for args in cases:
        monkeypatch.setattr(grep_mod, "USE_RG", True)
        with_rg = grep(tmp_path, **args)
        monkeypatch.setattr(grep_mod, "USE_RG", False)
        with_py = grep(tmp_path, **args)
        assert with_rg == with_py, args


def test_grep_falls_back_when_rg_is_missing(tmp_path, monkeypatch):
    make_tree(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert grep_mod.rg_path() is None
    assert "src/app.py:4:" in grep(tmp_path, pattern="hello")


def test_grep_python_only_pattern_syntax(tmp_path, engine):
    # a lookahead: ripgrep's default engine refuses it, so the Python search takes over
    (tmp_path / "f.txt").write_text("foobar\nfoobaz\n")
    assert grep(tmp_path, pattern="foo(?=baz)").splitlines()[0] == "f.txt:2: foobaz"


# -- glob ----------------------------------------------------------------------------

def glob(tmp_path, **args):
    return GlobTool().execute(args, ctx_for(tmp_path))


def test_glob_recursive_newest_first(tmp_path):
    make_tree(tmp_path)
    now = time.time()
    for i, rel in enumerate(["src/app.py", "src/util.py", "src/build/gen.py"]):
        os.utime(tmp_path / rel, (now - 100 + i, now - 100 + i))
    os.utime(tmp_path / "src/util.py", (now, now))
    out = glob(tmp_path, pattern="**/*.py")
    assert out.splitlines() == ["src/util.py", "src/app.py"]  # build/ is ignored


def test_glob_top_level_only_and_hidden(tmp_path):
    make_tree(tmp_path)
    out = glob(tmp_path, pattern="*.txt").splitlines()
    assert sorted(out) == ["A.txt", "_u.txt", "a-b.txt", "a.b.txt", "long.txt"]
    assert ".hidden/h.txt" in glob(tmp_path, pattern="**/*.txt").splitlines()
    assert glob(tmp_path, pattern="**/config").startswith("No files match")  # .git skipped


def test_glob_path_argument_and_literal_prefix(tmp_path):
    make_tree(tmp_path)
    out = glob(tmp_path, pattern="*.py", path="src")
    assert out.splitlines()[0] == "(paths relative to src)"
    assert sorted(out.splitlines()[1:]) == ["app.py", "util.py"]
    out = glob(tmp_path, pattern="src/nested/*")  # secret.txt is ignored by src/nested/.gitignore
    assert sorted(out.splitlines()) == ["src/nested/.gitignore", "src/nested/visible.txt"]


def test_glob_absolute_pattern(tmp_path):
    make_tree(tmp_path)
    out = glob(tmp_path / "src", pattern=str(tmp_path / "src" / "*.py"))
    assert sorted(out.splitlines()) == [str(tmp_path / "src" / "app.py"),
                                        str(tmp_path / "src" / "util.py")]


def test_glob_limit_note(tmp_path):
    for i in range(30):
        (tmp_path / f"f{i}.txt").write_text("x")
    t = GlobTool()
    t.max_results = 5
    out = t.execute({"pattern": "*.txt"}, ctx_for(tmp_path))
    lines = out.splitlines()
    assert len(lines) == 6
    assert "showing the 5 newest of 30 matching files" in lines[-1]
    assert GlobTool.max_results == 200


def test_glob_no_match_and_errors(tmp_path):
    assert glob(tmp_path, pattern="**/*.rs") == "No files match '**/*.rs' in the working directory."
    with pytest.raises(ToolError, match="directory not found"):
        glob(tmp_path, pattern="*", path="nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ToolError, match="not a directory"):
        glob(tmp_path, pattern="*", path="f")
    with pytest.raises(ToolError, match="pattern is empty"):
        glob(tmp_path, pattern=" ")

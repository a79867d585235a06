"""Streaming Markdown on a terminal: every finished block is printed once, for good; only the
unfinished tail is redrawn, in a live region that never grows taller than the screen.

The oracle is Rich: what ends up on screen and in the scrollback equals ``Console(width=W)
.print(Markdown(whole_answer))``. Rich renders a Markdown document as its top-level blocks,
one after the other, with a blank line between two blocks when the first one asks for it
(every block but a rule). So the answer is parsed with the parser Rich uses (markdown-it, same
options) and cut into *units*: the top-level blocks, and the items of a top-level bullet list
(Rich renders each bullet item on its own). A unit is printed with Rich's own renderer, from
its own tokens, once nothing that can still arrive can change it:

- a heading, a rule or a closed code fence at once; a paragraph, a table or a quote after a
  blank line; anything else (an item, an ordered list, an indented code block) once the next
  unit has started;
- a unit that uses a reference link whose definition (``[ref]: url``) has not arrived yet is
  held back, since the definition may come later: ``[text][ref]`` until the end, a shortcut
  ``[ref]`` (often just brackets) until what waits behind it is three screens tall.

A unit taller than the screen commits its finished lines early (all but its last rendered
line: the wrapped lines of a paragraph or an item); a table or a short ordered list (whose
column and number widths depend on rows still to come) is shown cropped to its last lines
instead, and printed whole when done. A long code block shows only its last lines live
(rendered alone) and prints its finished lines in batches that double in size, so that the
cost of streaming it stays linear (each batch is rendered from the start of the block, for
the same highlighting as in the whole).

:class:`MarkdownStream` does the cutting and rendering (no terminal: testable with any
Console); :mod:`.live_region` puts it on the terminal.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

Lines = list  # a rendered line: list[rich.segment.Segment]

#: the top-level blocks that render line by line in a way more text cannot change (the
#: finished lines of such a unit may be printed before the unit ends)
STABLE = {"paragraph_open", "heading_open", "fence", "code_block", "blockquote_open",
          "list_item_open"}
#: blocks that are final as soon as they are complete, and those final after a blank line
FINAL_AT_ONCE = {"heading_open", "hr"}
FINAL_AFTER_BLANK = {"paragraph_open", "table_open", "blockquote_open"}
#: a unit with an undefined shortcut reference (``[x]``: often not meant as a link) waits for
#: its definition until the text after it is this many screens tall
HELD_SCREENS = 3


def make_parser() -> Any:
    """markdown-it configured as ``rich.markdown.Markdown`` configures it."""
    from markdown_it import MarkdownIt
    return MarkdownIt().enable("strikethrough").enable("table")


class _Refs(dict):
    """``env["references"]`` that notes the labels looked up and not (yet) defined, with the
    index of the inline token being parsed."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.at = -1
        self.misses: list[tuple[int, str]] = []

    def get(self, key: Any, default: Any = None) -> Any:
        if key not in self and key:
            self.misses.append((self.at, key))
        return super().get(key, default)


def _inline_rule(state: Any) -> None:
    """markdown-it's core "inline" rule, noting which token is being parsed."""
    refs = state.env.get("references")
    for i, token in enumerate(state.tokens):
        if token.type == "inline":
            if isinstance(refs, _Refs):
                refs.at = i
            if token.children is None:
                token.children = []
            state.md.inline.parse(token.content, state.md, state.env, token.children)


class Unit:
    __slots__ = ("tokens", "kind", "line", "end", "item", "last_item", "held", "hard")

    def __init__(self, tokens: list[Any], kind: str, line: int, end: int, item: bool,
                 last_item: bool) -> None:
        self.tokens = tokens
        self.kind = kind          # the type of the top-level token (list_item_open for items)
        self.line = line          # first source line (of the parsed text)
        self.end = end            # one past the last source line
        self.item = item          # an item of a bullet list
        self.last_item = last_item
        self.held = False         # uses a reference not defined yet
        self.hard = False         # ... as [text][ref], which is never a typo


def split_units(tokens: list[Any], refs: _Refs | None = None) -> list[Unit]:
    """The units of a parsed document: top-level blocks; a bullet list's items one by one."""
    units: list[Unit] = []
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        j = i
        if tok.nesting == 1:
            depth = 0
            while True:
                depth += tokens[j].nesting
                if depth == 0:
                    break
                j += 1
        block = tokens[i:j + 1]
        if tok.type == "bullet_list_open":
            close = tokens[j]
            k = i + 1
            while k < j:
                m, depth = k, 0
                while True:
                    depth += tokens[m].nesting
                    if depth == 0:
                        break
                    m += 1
                item = tokens[k]
                units.append(Unit([tok, *tokens[k:m + 1], close], "list_item_open",
                                  item.map[0], item.map[1], True, m + 1 >= j))
                _mark_held(units[-1], k, m, tokens, refs)
                k = m + 1
        else:
            line, end = tok.map or (0, 0)
            units.append(Unit(block, tok.type, line, end, False, False))
            _mark_held(units[-1], i, j, tokens, refs)
        i = j + 1
    return units


def _mark_held(unit: Unit, first: int, last: int, tokens: list[Any], refs: _Refs | None) -> None:
    if refs is None or not refs.misses:
        return
    for at, _label in refs.misses:
        if first <= at <= last:
            unit.held = True
            if "][" in tokens[at].content:
                unit.hard = True


def new_line_state(md: Any, tokens: list[Any], state: bool) -> bool:
    """Rich's ``new_line`` after rendering ``tokens`` (whether the next block it renders gets
    a blank line before it): the ``new_line`` of the last element closed, as in
    ``Markdown.__rich_console__``."""
    from rich.markdown import UnknownElement
    for tok in md._flatten_tokens(tokens):
        kind = tok.type
        if kind in ("text", "hardbreak", "softbreak", "link_open", "link_close", "html_inline"):
            continue
        if tok.tag in md.inlines and kind not in ("fence", "code_block"):
            continue
        if tok.nesting <= 0:
            state = md.elements.get(kind, UnknownElement).new_line
    return state


def _lead() -> Any:
    """A token that renders nothing and leaves Rich's ``new_line`` set, as a block does."""
    from markdown_it.token import Token
    return Token("html_block", "", 0, content="")


class _UnitRender:
    """Units as Rich renders them inside the whole document."""

    def __init__(self, md: Any, tokens: list[Any]) -> None:
        self.md, self.tokens = md, tokens

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Any]:
        self.md.parsed = self.tokens
        yield from self.md.__rich_console__(console, options)


class LinesRenderable:
    """Already rendered lines, printed as they are."""

    def __init__(self, lines: list[Lines]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Any]:
        from rich.segment import Segment
        nl = Segment.line()
        for line in self.lines:
            yield from line
            yield nl


def render_lines(console: Any, renderable: Any, width: int) -> list[Lines]:
    """``renderable`` as ``console.print`` would lay it out at ``width``, line by line."""
    from rich.segment import Segment
    options = console.options.update_width(width)
    return list(Segment.split_and_crop_lines(console.render(renderable, options), width,
                                             pad=False, include_new_lines=False))


def _is_blank(line: str) -> bool:
    return not line.strip(" \t")


def _closed_fence(tok: Any, lines: list[str]) -> bool:
    """Whether a fence token ends with its closing line (rather than at the end of the text)."""
    start, end = tok.map
    if end - start < 2:
        return False
    last = lines[end - 1].strip() if end - 1 < len(lines) else ""
    marker = tok.markup
    return bool(marker) and last.startswith(marker) and set(last) == {marker[0]}


class MarkdownStream:
    """A growing Markdown answer, cut into units; each call to :meth:`take` says which lines
    are final (to print once) and which are the live tail (to redraw)."""

    def __init__(self, console: Any, code_theme: str = "monokai", hyperlinks: bool = True) -> None:
        from rich.markdown import Markdown
        self.console = console
        self.md = Markdown("", code_theme=code_theme, hyperlinks=hyperlinks)
        self.parser = make_parser()
        self.parser.core.ruler.at("inline", _inline_rule)
        self.refs = _Refs()
        self.text = ""          # the answer from ``base`` on, line ends normalised
        self._chunks: list[str] = []  # ... and what came since (joined when needed)
        self._cr = False        # a "\r" at the end of the last chunk (maybe half of "\r\n")
        self.base = 0           # where the first unit not printed yet starts in ``text``
        self.shown = 0          # lines of that unit's rendering already printed
        self.nl = False         # Rich's new_line after what was printed (a blank line next)
        self.cont = False       # the next unit is the next item of a list already begun
        self.committed = 0      # lines printed in all
        self.unresolved = 0     # times a unit with an undefined [ref] had to be printed
        self.code_done = 0      # code lines of that unit (a code block) already printed

    # -- input ----------------------------------------------------------------------------
    def feed(self, chunk: str) -> None:
        if self._cr:
            chunk = "\r" + chunk
        self._cr = chunk.endswith("\r")
        if self._cr:
            chunk = chunk[:-1]
        self._chunks.append(chunk.replace("\r\n", "\n").replace("\r", "\n"))

    def _gather(self) -> None:
        """The chunks joined to the text; what was printed for good dropped from it."""
        self.text = self.text[self.base:] + "".join(self._chunks)
        self._chunks.clear()
        self.base = 0

    def _parse(self, src: str, refs: _Refs) -> list[Unit]:
        refs.misses = []
        tokens = self.parser.parse(src, {"references": refs})
        return split_units(tokens, refs)

    def _tokens(self, units: list[Unit]) -> list[Any]:
        tokens: list[Any] = [_lead()] if self.nl else []
        prev: Unit | None = None
        for u in units:  # consecutive items of one list are rendered as that one list
            if u.item and prev is not None and prev.item and prev.tokens[0] is u.tokens[0]:
                tokens[-1:] = u.tokens[1:]
            else:
                tokens += u.tokens
            prev = u
        return tokens

    def _render(self, units: list[Unit], width: int) -> list[Lines]:
        if not units:
            return []
        lines = render_lines(self.console, _UnitRender(self.md, self._tokens(units)), width)
        if self.cont and units[0].item:  # the list's blank line before it was printed
            lines = lines[1:]
        return lines

    # -- output ---------------------------------------------------------------------------
    def take(self, width: int, height: int) -> tuple[list[Lines], list[Lines]]:
        """(lines to print for good, lines of the live tail), at this width; the tail is at
        most ``height`` lines."""
        self._gather()
        cut = self.text.rfind("\n") + 1
        out: list[Lines] = []
        src = self.text[self.base:cut]
        lines = src.split("\n")
        units = self._parse(src, self.refs) if src else []
        force_soft = False
        while True:
            done = self._final_count(units, lines, force_soft)
            if done:
                out += self._commit(units[:done], units[done] if done < len(units) else None,
                                    lines, width)
                src = self.text[self.base:cut]
                lines = src.split("\n")
                units = self._parse(src, self.refs) if src else []  # re-based line numbers
            tail, hidden = self._tail(width, height)
            if hidden > max(height, self.code_done):
                # a long code block: print its finished lines now and then (each time as many
                # as were printed before, so that rendering it stays linear)
                out += self._early(units, width)
                tail, hidden = self._tail(width, height)
            if len(tail) <= height:
                return out, tail
            if not force_soft and units and units[0].held and not units[0].hard \
                    and len(units) > 1 and len(tail) > HELD_SCREENS * height:
                force_soft = True  # held back too long: print it as it is
                self.unresolved += 1
                continue
            head = units[0] if units else None
            if head is not None and len(units) == 1 and self._stable(head) and not hidden:
                early = self._early(units, width)
                if early:
                    out += early
                    tail, hidden = self._tail(width, height)
            return out, tail[-height:] if height > 0 else []

    def _early(self, units: list[Unit], width: int) -> list[Lines]:
        """The finished lines of the one unit not printed yet: all its lines but the last."""
        if len(units) != 1:
            return []
        full = self._render(units, width)
        early = full[self.shown:len(full) - 1]
        self.shown += len(early)
        self.committed += len(early)
        if units[0].kind == "fence":
            self.code_done = len(units[0].tokens[0].content.rstrip().split("\n"))
        return early

    def close(self, width: int) -> list[Lines]:
        """Everything not printed yet (the answer is complete)."""
        if self._cr:
            self._cr = False
            self._chunks.append("\n")
        self._gather()
        src = self.text
        units = self._parse(src, self.refs) if src.strip() else []
        lines = self._render(units, width)[self.shown:]
        self.committed += len(lines)
        if units:
            self.nl = new_line_state(self.md, self._tokens(units), self.nl)
        self.base, self.shown, self.cont, self.code_done = len(self.text), 0, False, 0
        return lines

    def _stable(self, unit: Unit) -> bool:
        if unit.held:
            return False
        if unit.kind == "ordered_list_open":  # the numbers' width may still grow
            start = int(unit.tokens[0].attrs.get("start", 1))
            count = sum(1 for t in unit.tokens if t.type == "list_item_open" and t.level == 1)
            return len(str(start + count)) == len(str(start + count + 10))
        return unit.kind in STABLE

    def _final_count(self, units: list[Unit], lines: list[str], force_soft: bool) -> int:
        """How many leading units are final."""
        n = 0
        for i, u in enumerate(units):
            if u.held and (u.hard or not force_soft):
                break
            if i + 1 < len(units):
                n += 1
                continue
            # the last unit: final only if nothing that may still come can change it
            total = len(lines) - 1  # complete lines (the text ends with "\n")
            if u.kind in FINAL_AT_ONCE or (u.kind == "fence" and _closed_fence(u.tokens[0], lines)):
                n += 1
            elif u.kind in FINAL_AFTER_BLANK and u.end < total and _is_blank(lines[u.end]):
                n += 1
            break
        return n

    def _commit(self, units: list[Unit], after: Unit | None, lines: list[str],
                width: int) -> list[Lines]:
        rendered = self._render(units, width)[self.shown:]
        self.committed += len(rendered)
        self.shown = self.code_done = 0
        last = units[-1]
        if after is not None:
            next_line = after.line
        else:  # the last unit of the text: what follows it starts after its last line
            next_line = last.end
        offset = sum(len(s) + 1 for s in lines[:next_line])
        self.base += offset
        self.nl = new_line_state(self.md, self._tokens(units), self.nl)
        self.cont = after is not None and last.item and not last.last_item and after.item
        return rendered

    def _tail(self, width: int, height: int) -> tuple[list[Lines], int]:
        """(the lines not printed yet, with the line being written; code lines left out).
        Of a code block longer than the screen only the last lines are rendered (alone: the
        highlighting may differ a little until the lines are printed for good)."""
        src = self.text[self.base:]
        if not src.strip():
            return [], 0
        units = self._parse(src, _Refs(self.refs))
        keep = max(1, height - 2)
        if len(units) == 1 and units[0].kind == "fence":
            tok = units[0].tokens[0]
            code = tok.content.split("\n")
            if len(code) - self.code_done > keep or self.code_done:
                rest = code[self.code_done:]
                short = copy.copy(tok)
                short.content = "\n".join(rest[-keep:])
                lines = self._render([Unit([short], "fence", 0, 0, False, False)], width)
                return lines[(1 if self.nl else 0) + 1:], max(0, len(rest) - keep)
        return self._render(units, width)[self.shown:], 0

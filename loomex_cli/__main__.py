"""``loomex`` console entry point. ``--version`` answers before anything heavy is imported, and a
plain ``loomex PROMPT`` runs without building the Typer tree (cli/fast_run.py)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from ._version import __version__
        print(f"loomex {__version__}")
        if argv is None:
            from .cli.lifecycle import leave
            leave(0)
        return
    from .cli.fast_run import main as cli_main  # a plain one-shot without Typer, else Typer
    if argv is not None:  # called from a program: its SystemExit is the caller's
        cli_main(args)
    try:
        cli_main(args)
    except SystemExit as e:
        from .cli.lifecycle import leave
        leave(e.code)


if __name__ == "__main__":
    main()

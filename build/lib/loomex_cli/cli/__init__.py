"""The command-line face: Typer commands, Rich rendering, the prompt_toolkit REPL."""

"""``loomex keys`` and ``loomex config``: real files, real modes, a real subprocess."""

from __future__ import annotations

import stat

from cli_support import SECRET, CliEnv


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_round_trip_with_modes(tmp_path):
    env = CliEnv(tmp_path / "home")
    (env.config / "config.toml").unlink()
    env.config.rmdir()  # `keys set` creates the directory itself, 0700
    done = env.run("keys", "set", "groq", input=SECRET + "\n")
    assert done.code == 0, done.err
    keys = env.config / "keys.toml"
    assert mode(keys) == 0o600 and mode(env.config) == 0o700
    assert SECRET in keys.read_text()

    done = env.run("keys", "set", "openrouter", input="sk-or-second-key-999999\n")
    assert done.code == 0
    listing = env.run("keys", "list")
    assert listing.code == 0
    line = next(ln for ln in listing.out.splitlines() if ln.startswith("groq"))
    assert "keys.toml" in line and "…" in line and SECRET not in listing.out
    assert any(ln.startswith("openrouter") and "keys.toml" in ln for ln in listing.out.splitlines())

    # the environment wins over the file, and list says so
    listing = env.run("keys", "list", GROQ_API_KEY="gsk-from-env-77777777")
    line = next(ln for ln in listing.out.splitlines() if ln.startswith("groq"))
    assert "env:GROQ_API_KEY" in line

    done = env.run("keys", "remove", "groq")
    assert done.code == 0
    text = keys.read_text()
    assert "groq" not in text and "sk-or-second-key-999999" in text  # no other key is lost
    assert mode(keys) == 0o600
    assert env.run("keys", "remove", "groq").code == 2


def test_empty_key_is_refused(tmp_path):
    env = CliEnv(tmp_path)
    done = env.run("keys", "set", "groq", input="\n")
    assert done.code == 2 and "no key" in done.err
    assert not (env.config / "keys.toml").exists()


def test_a_corrupt_keys_file_is_reported_and_left_untouched(tmp_path):
    env = CliEnv(tmp_path)
    keys = env.config / "keys.toml"
    corrupt = 'groq = "abc\nopenrouter = 1 2 3\n'
    keys.write_text(corrupt)
    keys.chmod(0o600)
    for args in (("keys", "list"), ("keys", "set", "groq"), ("hi",)):
        done = env.run(*args, input="sk-new-key-123456\n")
        assert done.code == 3, (args, done.err)
        assert "keys.toml" in done.err and "line 1" in done.err
    assert keys.read_text() == corrupt


def test_config_show_masks_keys(tmp_path):
    env = CliEnv(tmp_path, "http://127.0.0.1:9/v1", extra_config=f'\n[providers.other]\nbase_url = "http://x"\napi_key = "{SECRET}"\n')
    assert env.run("keys", "set", "groq", input="gsk-stored-key-5555555\n").code == 0
    done = env.run("config", "show")
    assert done.code == 0
    assert "gsk-stored-key-5555555" not in done.out and "[providers.other]" in done.out
    assert "api_key" in done.out
    path = env.run("config", "path")
    assert path.out.strip() == str(env.config / "config.toml")


def test_key_from_api_key_cmd(tmp_path, replay):
    from replay_server import Reply
    name, url = replay.new_script([Reply.text("ok")], prefix="keycmd")
    env = CliEnv(tmp_path)
    (env.config / "config.toml").write_text(
        f'default_model = "vault/m"\n[providers.vault]\nbase_url = "{url}"\n'
        f'api_key_cmd = "echo {SECRET}"\n')
    done = env.run("hi")
    assert done.code == 0, done.err
    assert replay.requests(name)[0].headers["authorization"] == f"Bearer {SECRET}"

"""The models.dev registry (loomex_cli/wire/registry.py + registry_index.py).

The snapshot in ``$LOOMEX_FIXTURES/models-dev/api.json`` is served by a loopback HTTP server
started here (real sockets on 127.0.0.1, ETag / Last-Modified / 304, a request counter);
``$LOOMEX_MODELS_URL`` points the registry at it and every test has its own cache dir.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli_support import loomex_bin
from conftest import REQUIRE_ALL
from replay_server import FIXTURES
from loomex_cli.wire import providers, registry
from loomex_cli.wire import registry_index as ri
from loomex_cli.wire.errors import ConfigError
from loomex_cli.wire.providers import PRESETS, route

SNAPSHOT = FIXTURES / "models-dev" / "api.json"
ETAG = '"snapshot-f3fc6922"'
LAST_MODIFIED = "Wed, 01 Jul 2026 16:40:28 GMT"


# -- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def api_bytes() -> bytes:
    if not SNAPSHOT.is_file():
        msg = (f"the models.dev snapshot is missing at {SNAPSHOT} (set LOOMEX_FIXTURES to the "
               "folder that holds models-dev/api.json)")
        if REQUIRE_ALL:
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return SNAPSHOT.read_bytes()


@pytest.fixture(scope="session")
def api(api_bytes: bytes) -> dict:
    return json.loads(api_bytes)


class CatalogServer:
    """GET /api.json: ``body`` with ETag/Last-Modified (either may be None), 304 when a
    validator matches; ``status`` (200), ``delay`` (seconds before answering). Every request
    is recorded (method, path, lower-cased headers)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag: str | None = ETAG
        self.last_modified: str | None = LAST_MODIFIED
        self.status = 200
        self.delay = 0.0
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append({"path": self.path, "headers": headers})
                if outer.delay:
                    time.sleep(outer.delay)
                if self.path != "/api.json":
                    return self._send(404, b"not found")
                if outer.status != 200:
                    return self._send(outer.status, b"boom")
                inm, ims = headers.get("if-none-match"), headers.get("if-modified-since")
                if (outer.etag and inm == outer.etag) or (
                        outer.last_modified and not inm and ims == outer.last_modified):
                    return self._send(304, b"")
                self._send(200, outer.body)

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                if outer.etag:
                    self.send_header("ETag", outer.etag)
                if outer.last_modified:
                    self.send_header("Last-Modified", outer.last_modified)
                if status != 304:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    try:
                        self.wfile.write(body)
                    except OSError:
                        pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    @property
    def count(self) -> int:
        return len(self.requests)

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def server(api_bytes: bytes):
    srv = CatalogServer(api_bytes)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def cache(tmp_path: Path, server: CatalogServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache dir, the registry pointed at ``server``, nothing loaded, no provider
    registered from an earlier test."""
    d = tmp_path / "cache"
    monkeypatch.setenv("LOOMEX_CACHE_DIR", str(d))
    monkeypatch.setenv("LOOMEX_MODELS_URL", server.url)
    monkeypatch.setattr(providers, "_EXTRA", {})
    registry.reset()
    yield d
    registry.reset()


def new_process() -> None:
    """What a new process starts with: nothing loaded in memory."""
    registry.reset()


def age_state(d: Path, seconds: float) -> None:
    state = json.loads((d / ri.STATE_NAME).read_text())
    state["checked_at"] -= seconds
    (d / ri.STATE_NAME).write_text(json.dumps(state))


def files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


# -- lookups -------------------------------------------------------------------------------

def test_openrouter_claude_sonnet_4(cache: Path, server: CatalogServer, api: dict) -> None:
    info = registry.lookup("openrouter/anthropic/claude-sonnet-4")
    assert info is not None
    assert info.context_window == 1_000_000
    assert info.max_output == 64_000
    assert info.name == "Claude Sonnet 4"
    assert info.provider == "openrouter" and info.model == "anthropic/claude-sonnet-4"
    assert info.id == "openrouter/anthropic/claude-sonnet-4"
    assert info.tool_call is True and info.reasoning is True and info.temperature is True
    assert info.status is None
    assert info.cost["input"] == 3 and info.cost["output"] == 15
    assert info.cost["tiers"][0]["size"] == 200_000
    assert server.count == 1
    assert registry.note() is None
    # the same model elsewhere has other limits: the provider used counts
    assert registry.lookup("anthropic/claude-sonnet-4-20250514").context_window == 200_000


def test_capabilities_follow_the_snapshot(cache: Path, api: dict) -> None:
    """Input modalities, structured output and effort values come from the snapshot as it is,
    for every model of a few providers (attachments, --schema and --effort read them)."""
    for rid, prefix in (("openai", "openai"), ("groq", "groq"), ("openrouter", "openrouter")):
        for mid, m in api[rid]["models"].items():
            info = registry.lookup(f"{prefix}/{mid}")
            assert info is not None, mid
            inputs = (m.get("modalities") or {}).get("input")
            assert info.inputs == (tuple(inputs) if isinstance(inputs, list) else None), mid
            assert info.accepts_images == (None if inputs is None else "image" in inputs)
            so = m.get("structured_output")
            assert info.structured_output == (so if isinstance(so, bool) else None), mid
            eff = [o["values"] for o in m.get("reasoning_options") or ()
                   if o.get("type") == "effort"]
            assert info.efforts == (tuple(eff[0]) if eff else None), mid
    mini = registry.lookup("openai/gpt-4.1-mini")
    assert mini.accepts_images is True and mini.structured_output is True
    assert registry.lookup("groq/llama-3.3-70b-versatile").accepts_images is False


def test_fireworks_ids_with_slashes(cache: Path, api: dict) -> None:
    fw = api["fireworks-ai"]["models"]
    for mid in ("accounts/fireworks/models/kimi-k2p6",
                "accounts/fireworks/routers/kimi-k2p6-turbo"):
        info = registry.lookup(f"fireworks/{mid}")
        assert info is not None, mid
        assert info.registry_provider == "fireworks-ai" and info.provider == "fireworks"
        assert info.model == mid
        assert info.context_window == fw[mid]["limit"]["context"]
        assert info.max_output == fw[mid]["limit"]["output"]
    # the models.dev id works as a prefix too
    assert registry.lookup("fireworks-ai/accounts/fireworks/models/kimi-k2p6").context_window == \
        fw["accounts/fireworks/models/kimi-k2p6"]["limit"]["context"]


def test_together_and_moonshot_mapping(cache: Path, api: dict) -> None:
    mid = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    info = registry.lookup(f"together/{mid}")
    assert info is not None and info.registry_provider == "togetherai"
    assert info.context_window == api["togetherai"]["models"][mid]["limit"]["context"]
    info = registry.lookup("moonshot/kimi-k2-0905-preview")
    assert info is not None and info.registry_provider == "moonshotai"
    gpt5 = registry.lookup("openai/gpt-5")
    assert (gpt5.context_window, gpt5.max_input, gpt5.max_output) == (400_000, 272_000, 128_000)
    assert gpt5.temperature is False


def test_prefix_mapping_matches_the_snapshot(api: dict) -> None:
    for ours in ("openai", "openrouter", "groq", "deepseek", "mistral", "xai", "cerebras",
                 "deepinfra", "fireworks", "together", "moonshot", "lmstudio"):
        assert ours in PRESETS
        assert registry.registry_id(ours) in api, ours
    for local in ("ollama", "llamacpp", "vllm"):
        assert local in registry.NO_ENTRY and local not in api


def test_missing_models_are_none(cache: Path, server: CatalogServer) -> None:
    # removed upstream on 2026-06-13: degrade, do not invent
    assert registry.lookup("fireworks/accounts/fireworks/models/kimi-k2p5") is None
    assert registry.lookup("openrouter/no-such/model") is None
    assert registry.lookup("no-such-provider/model") is None
    assert registry.lookup("not-a-model-string") is None
    assert registry.lookup("") is None
    # split once at the first "/": the rest is never split again
    assert registry.lookup("openrouter/anthropic") is None


def test_local_servers_load_nothing(cache: Path, server: CatalogServer) -> None:
    assert registry.lookup("ollama/llama3.1:8b") is None
    assert registry.lookup("vllm/Qwen/Qwen3-8B") is None
    assert server.count == 0 and not cache.exists()


def test_search(cache: Path) -> None:
    hits = registry.search("claude-sonnet-4")
    ids = {h.id for h in hits}
    assert "openrouter/anthropic/claude-sonnet-4" in ids
    assert all("claude-sonnet-4" in h.id.lower() or "claude-sonnet-4" in h.name.lower()
               for h in hits)
    # several words: all must match; our prefixes are used for the mapped providers
    hits = registry.search("fireworks kimi")
    assert all("fireworks" in f"{h.registry_provider}/{h.id} {h.name}".lower() and
               "kimi" in f"{h.id} {h.name}".lower() for h in hits)
    assert "fireworks/accounts/fireworks/models/kimi-k2p6" in {h.id for h in hits}
    assert "fireworks-ai/accounts/fireworks/models/kimi-k2p6" not in {h.id for h in hits}
    assert registry.search("zzz-no-such-model-zzz") == []


def test_alookup_does_not_block_the_loop(cache: Path, server: CatalogServer) -> None:
    server.delay = 0.6
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.02)

    async def main():
        stop = asyncio.Event()
        t = asyncio.create_task(ticker(stop))
        info = await registry.alookup("openrouter/anthropic/claude-sonnet-4")
        stop.set()
        await t
        return info

    info = asyncio.run(main())
    assert info is not None and info.context_window == 1_000_000
    assert ticks >= 10  # the loop kept running during the 0.6 s fetch
    # loaded: answers without a thread
    assert asyncio.run(registry.alookup("openai/gpt-5")).context_window == 400_000


# -- the cache -----------------------------------------------------------------------------

def test_fresh_cache_makes_no_request(cache: Path, server: CatalogServer) -> None:
    assert registry.lookup("openai/gpt-5") is not None
    assert server.count == 1
    assert {ri.RAW_NAME, ri.INDEX_NAME, ri.STATE_NAME} <= set(os.listdir(cache))
    for _ in range(3):
        new_process()
        assert registry.lookup("openrouter/anthropic/claude-sonnet-4").context_window == 1_000_000
    assert server.count == 1
    assert not [n for n in os.listdir(cache) if n.endswith(".tmp")]


def test_stale_cache_conditional_request_304(cache: Path, server: CatalogServer,
                                             api_bytes: bytes) -> None:
    registry.lookup("openai/gpt-5")
    before = files(cache)
    age_state(cache, ri.MAX_AGE + 3600)
    new_process()
    assert registry.lookup("openrouter/anthropic/claude-sonnet-4").context_window == 1_000_000
    assert server.count == 2
    h = server.requests[-1]["headers"]
    assert h.get("if-none-match") == ETAG
    assert h.get("if-modified-since") == LAST_MODIFIED
    after = files(cache)
    assert after[ri.RAW_NAME] == before[ri.RAW_NAME] == api_bytes
    assert after[ri.INDEX_NAME] == before[ri.INDEX_NAME]
    state = json.loads(after[ri.STATE_NAME])
    assert time.time() - state["checked_at"] < 60  # the timestamp was renewed
    new_process()
    registry.lookup("openai/gpt-5")
    assert server.count == 2  # fresh again


def test_last_modified_only(cache: Path, server: CatalogServer) -> None:
    server.etag = None
    registry.lookup("openai/gpt-5")
    age_state(cache, ri.MAX_AGE + 1)
    new_process()
    assert registry.lookup("openai/gpt-5") is not None
    h = server.requests[-1]["headers"]
    assert "if-none-match" not in h and h.get("if-modified-since") == LAST_MODIFIED


def test_stale_cache_new_data_replaces_it(cache: Path, server: CatalogServer, api: dict) -> None:
    registry.lookup("openai/gpt-5")
    changed = json.loads(json.dumps(api))
    changed["openai"]["models"]["gpt-5"]["limit"]["context"] = 123_456
    server.body = json.dumps(changed).encode()
    server.etag = '"v2"'
    age_state(cache, ri.MAX_AGE + 1)
    new_process()
    assert registry.lookup("openai/gpt-5").context_window == 123_456
    assert (cache / ri.RAW_NAME).read_bytes() == server.body


def test_offline_stale_cache_is_used(cache: Path, server: CatalogServer) -> None:
    registry.lookup("openai/gpt-5")
    age_state(cache, 30 * 86400)
    server.stop()
    new_process()
    info = registry.lookup("openrouter/anthropic/claude-sonnet-4")
    assert info is not None and info.context_window == 1_000_000
    note = registry.note()
    assert note and "30 days old" in note and "ConnectError" in note


def test_offline_no_cache_returns_none(cache: Path, server: CatalogServer) -> None:
    server.stop()
    assert registry.lookup("openrouter/anthropic/claude-sonnet-4") is None
    assert registry.search("claude") == []
    assert registry.providers() is None
    assert registry.provider_models("openai") is None
    assert "offline and no cache" in registry.note()
    assert asyncio.run(registry.alookup("openai/gpt-5")) is None
    # an unknown provider still says what to do
    with pytest.raises(ConfigError) as e:
        route("some-gateway/model", {}, {})
    msg = str(e.value)
    assert "[providers.some-gateway]" in msg and "config.toml" in msg
    assert "offline and no cache" in msg


def test_failed_fetch_is_not_retried_at_once(cache: Path, server: CatalogServer) -> None:
    server.status = 503
    assert registry.lookup("openai/gpt-5") is None
    assert server.count == 1 and "HTTP 503" in registry.note()
    new_process()
    assert registry.lookup("openai/gpt-5") is None
    assert server.count == 1  # backed off: an offline machine is not slowed down every run
    server.status = 200
    assert registry.refresh() is True  # an explicit refresh ignores the back-off
    assert server.count == 2 and registry.lookup("openai/gpt-5") is not None


@pytest.mark.parametrize("garbage", [
    b"<html>502 Bad Gateway</html>", b"", b"[1, 2, 3]", b"{}", b'{"openai": 3}',
    b"\xff\xfe\x00garbage", "TRUNCATED",
])
def test_malformed_download_keeps_the_cache(cache: Path, server: CatalogServer, api_bytes: bytes,
                                            garbage) -> None:
    registry.lookup("openai/gpt-5")
    age_state(cache, ri.MAX_AGE + 1)
    before = files(cache)
    server.body = api_bytes[: len(api_bytes) // 2] if garbage == "TRUNCATED" else garbage
    server.etag = '"broken"'
    new_process()
    assert registry.lookup("openrouter/anthropic/claude-sonnet-4").context_window == 1_000_000
    assert server.count == 2
    after = files(cache)
    assert after[ri.RAW_NAME] == before[ri.RAW_NAME] == api_bytes
    assert after[ri.INDEX_NAME] == before[ri.INDEX_NAME]
    assert "not a models.dev catalog" in registry.note()
    assert not [n for n in after if n.endswith(".tmp")]


def test_malformed_download_without_cache(cache: Path, server: CatalogServer) -> None:
    server.body = b'{"truncated": '
    assert registry.lookup("openai/gpt-5") is None
    assert not (cache / ri.RAW_NAME).exists() and not (cache / ri.INDEX_NAME).exists()


def test_slow_server_does_not_stall(cache: Path, server: CatalogServer,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ri, "TOTAL_TIMEOUT", 0.5)
    server.delay = 3.0
    t0 = time.monotonic()
    assert registry.lookup("openai/gpt-5") is None
    assert time.monotonic() - t0 < 2.0


def test_models_url_off(cache: Path, server: CatalogServer,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOMEX_MODELS_URL", "off")
    assert registry.lookup("openai/gpt-5") is None
    assert "LOOMEX_MODELS_URL=off" in registry.note()
    monkeypatch.setenv("LOOMEX_MODELS_URL", server.url)
    new_process()
    registry.lookup("openai/gpt-5")
    age_state(cache, 400 * 86400)
    monkeypatch.setenv("LOOMEX_MODELS_URL", "off")
    new_process()
    assert registry.lookup("openai/gpt-5") is not None  # the cache, however old
    assert server.count == 1


def test_index_rebuilt_from_raw(cache: Path, server: CatalogServer) -> None:
    registry.lookup("openai/gpt-5")
    index = (cache / ri.INDEX_NAME).read_bytes()
    (cache / ri.INDEX_NAME).unlink()
    new_process()
    assert registry.lookup("openrouter/anthropic/claude-sonnet-4").context_window == 1_000_000
    assert server.count == 1
    rebuilt = (cache / ri.INDEX_NAME).read_bytes()
    # the same content (only the build time in the header differs)
    assert rebuilt.split(b"\n", 1)[1] == index.split(b"\n", 1)[1]
    # an index of another format version is rebuilt too
    (cache / ri.INDEX_NAME).write_bytes(b'{"v":0,"providers":{}}\n')
    new_process()
    assert registry.lookup("openai/gpt-5") is not None and server.count == 1


_CHILD = r"""
import json, sys
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str):
        opened.append(args[0])
sys.addaudithook(hook)
from loomex_cli.wire import registry
info = registry.lookup(sys.argv[1])
print(json.dumps({"context": info and info.context_window, "opened": opened}))
"""


def _child(cache: Path, url: str, model: str) -> dict:
    env = {**os.environ, "LOOMEX_CACHE_DIR": str(cache), "LOOMEX_MODELS_URL": url}
    p = subprocess.run([sys.executable, "-c", _CHILD, model], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_second_process_reads_the_index_not_api_json(cache: Path, server: CatalogServer) -> None:
    registry.lookup("openai/gpt-5")
    out = _child(cache, server.url, "openrouter/anthropic/claude-sonnet-4")
    assert out["context"] == 1_000_000
    names = [Path(p).name for p in out["opened"]]
    assert ri.INDEX_NAME in names and ri.RAW_NAME not in names
    # and without the raw file at all
    (cache / ri.RAW_NAME).unlink()
    out = _child(cache, server.url, "fireworks/accounts/fireworks/models/kimi-k2p6")
    assert out["context"] and out["context"] > 100_000
    assert server.count == 1 and not (cache / ri.RAW_NAME).exists()


# -- routing -------------------------------------------------------------------------------

_PH = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fake_env(p: dict, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake values for a provider's variables; returns the base URL we expect."""
    api = p["api"]
    for var in p["env"]:
        monkeypatch.setenv(var, f"fake-{var.lower()}")
    for var in _PH.findall(api):
        value = "https://gw.example.test" if api.startswith("${" + var + "}") else "acct-123"
        monkeypatch.setenv(var, value)
    url = _PH.sub(lambda m: os.environ[m.group(1)], api).rstrip("/")
    return url.removesuffix("/chat/completions").rstrip("/")


def test_every_openai_compatible_provider_routes(cache: Path, api: dict,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    compatible = {pid: p for pid, p in api.items()
                  if p["npm"] == "@ai-sdk/openai-compatible" and p.get("api")}
    assert len(compatible) > 100
    for pid, p in compatible.items():
        monkeypatch.delenv(f"LOOMEX_{pid.upper().replace('-', '_')}_BASE_URL", raising=False)
        expected = _fake_env(p, monkeypatch)
        r = route(f"{pid}/some/model-id", {}, {})
        assert r.model == "some/model-id"
        assert re.match(r"^https?://[^/\s]+", r.base_url), (pid, r.base_url)
        assert not r.base_url.endswith("/chat/completions") and not r.base_url.endswith("/")
        assert r.url == r.base_url + "/chat/completions"
        if pid in PRESETS:  # presets win (deepseek, lmstudio)
            assert r.base_url == PRESETS[pid].base_url, pid
            continue
        assert r.base_url == expected, pid
        assert "${" not in r.base_url
        key_env = registry.ProviderEntry(pid, p["name"], p["npm"], p["api"], tuple(p["env"]),
                                         0).key_env
        assert r.key_source == f"env:{key_env}", pid
        assert r.api_key == os.environ[key_env]
    spot = {"bailing": "https://api.tbox.cn/api/llm/v1",
            "fireworks-ai": "https://api.fireworks.ai/inference/v1",
            "cloudflare-workers-ai": "https://api.cloudflare.com/client/v4/accounts/acct-123/ai/v1",
            "neon": "https://gw.example.test/ai-gateway/mlflow/v1"}
    for pid, url in spot.items():
        assert route(f"{pid}/m", {}, {}).base_url == url
    # the key of a placeholder provider is its key variable, not the account id
    assert route("cloudflare-workers-ai/m", {}, {}).key_source == "env:CLOUDFLARE_API_KEY"


def test_anthropic_and_other_apis_are_not_routable(cache: Path, api: dict,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    anthropic = [pid for pid, p in api.items() if p["npm"] == "@ai-sdk/anthropic"]
    assert {"minimax", "kimi-for-coding", "freemodel"} <= set(anthropic)
    for pid in anthropic:
        for var in api[pid]["env"]:
            monkeypatch.setenv(var, "fake")
        with pytest.raises(ConfigError, match="Anthropic Messages") as e:
            route(f"{pid}/some-model", {}, {})
        assert f"[providers.{pid}]" in str(e.value)
    with pytest.raises(ConfigError, match="no OpenAI-compatible base URL"):
        route("google/gemini-2.5-pro", {}, {})
    with pytest.raises(ConfigError, match=r"use the built-in together/"):
        route("togetherai/meta-llama/Llama-3.3-70B-Instruct-Turbo", {}, {})


def test_placeholder_unset_is_a_clear_error(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "k")
    with pytest.raises(ConfigError, match=r"needs \$CLOUDFLARE_ACCOUNT_ID") as e:
        route("cloudflare-workers-ai/@cf/meta/llama-3.1-8b-instruct", {}, {})
    assert "export CLOUDFLARE_ACCOUNT_ID=" in str(e.value)


def test_registry_provider_without_key(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZHIPU_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"no API key for zai: export ZHIPU_API_KEY"):
        route("zai/glm-4.6", {}, {})
    r = route("zai/glm-4.6", {}, {"zai": "from-keys-toml"})  # keys.toml works too
    assert r.api_key == "from-keys-toml" and r.base_url == "https://api.z.ai/api/paas/v4"


def test_unknown_provider_says_what_to_do(cache: Path) -> None:
    with pytest.raises(ConfigError) as e:
        route("fireworkz/some-model", {}, {})
    msg = str(e.value)
    assert "unknown provider 'fireworkz'" in msg and "[providers.fireworkz]" in msg
    assert "Did you mean" in msg and "fireworks" in msg and "loomex models" in msg


def test_presets_and_config_win_without_the_registry(cache: Path, server: CatalogServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "k")
    monkeypatch.setenv("ZHIPU_API_KEY", "k")
    r = route("openrouter/anthropic/claude-sonnet-4", {}, {})
    assert r.base_url == PRESETS["openrouter"].base_url
    config = {"providers": {"zai": {"base_url": "http://127.0.0.1:9/v1"}}}
    assert route("zai/glm-4.6", config, {}).base_url == "http://127.0.0.1:9/v1"
    monkeypatch.setenv("LOOMEX_ZAI_BASE_URL", "http://127.0.0.1:8/v1")
    assert route("zai/glm-4.6", {}, {}).base_url == "http://127.0.0.1:8/v1"
    assert server.count == 0 and registry._loaded is None  # the common path never loads it


# -- cost ----------------------------------------------------------------------------------

def test_cost_arithmetic(cache: Path, api: dict) -> None:
    sonnet = registry.lookup("openrouter/anthropic/claude-sonnet-4")
    c = api["openrouter"]["models"]["anthropic/claude-sonnet-4"]["cost"]
    assert (c["input"], c["output"], c["cache_read"]) == (3, 15, 0.3)
    assert c["tiers"][0] == {"input": 6, "output": 22.5, "cache_read": 0.6, "cache_write": 7.5,
                             "tier": {"type": "context", "size": 200000}}
    plain = {"prompt_tokens": 10_000, "completion_tokens": 2_000, "total_tokens": 12_000}
    # 10,000 x $3 + 2,000 x $15 per million
    assert registry.cost_usd(sonnet, plain) == pytest.approx(0.06)
    cached = {"prompt_tokens": 10_000, "completion_tokens": 2_000,
              "prompt_tokens_details": {"cached_tokens": 8_000}}
    # 2,000 x 3 + 8,000 x 0.3 + 2,000 x 15 = 38,400 per million
    assert registry.cost_usd(sonnet, cached) == pytest.approx(0.0384)
    long = {"prompt_tokens": 250_000, "completion_tokens": 1_000,
            "prompt_tokens_details": {"cached_tokens": 50_000}}
    # over 200,000 prompt tokens: 200,000 x 6 + 50,000 x 0.6 + 1,000 x 22.5 = 1,252,500
    assert registry.cost_usd(sonnet, long) == pytest.approx(1.2525)
    at_size = {"prompt_tokens": 200_000, "completion_tokens": 0}
    assert registry.cost_usd(sonnet, at_size) == pytest.approx(0.6)  # not over: base price

    # a separate reasoning price
    deep = registry.lookup("openrouter/perplexity/sonar-deep-research")
    assert api["openrouter"]["models"]["perplexity/sonar-deep-research"]["cost"] == \
        {"input": 2, "output": 8, "reasoning": 3}
    usage = {"prompt_tokens": 1_000, "completion_tokens": 5_000,
             "completion_tokens_details": {"reasoning_tokens": 4_000}}
    # 1,000 x 2 + 1,000 x 8 + 4,000 x 3 = 22,000
    assert registry.cost_usd(deep, usage) == pytest.approx(0.022)
    # no cache_read price: cached tokens are billed as input
    assert registry.cost_usd(deep, {"prompt_tokens": 1_000, "completion_tokens": 0,
                                    "prompt_tokens_details": {"cached_tokens": 900}}) \
        == pytest.approx(0.002)
    # no reasoning price: reasoning tokens are output tokens
    gpt5 = registry.lookup("openai/gpt-5")
    assert registry.cost_usd(gpt5, usage) == pytest.approx((1_000 * 1.25 + 5_000 * 10) / 1e6)
    # a cost dict works as well as a ModelInfo
    assert registry.cost_usd({"input": 1, "output": 2}, plain) == pytest.approx(0.014)
    # DeepSeek reports cache hits as prompt_cache_hit_tokens
    ds = {"input": 0.28, "output": 0.42, "cache_read": 0.028}
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 0,
             "prompt_cache_hit_tokens": 600_000, "prompt_cache_miss_tokens": 400_000}
    assert registry.cost_usd(ds, usage) == pytest.approx(0.4 * 0.28 + 0.6 * 0.028)
    # the same function without the registry's state: the pure module
    from loomex_cli.wire.registry_cost import cost_usd
    assert cost_usd(sonnet.cost, long) == pytest.approx(1.2525)


def test_cost_unknown_is_none(cache: Path, api: dict) -> None:
    assert "cost" not in api["groq"]["models"]["groq/compound"]
    compound = registry.lookup("groq/groq/compound")
    assert compound is not None and compound.cost is None
    usage = {"prompt_tokens": 10, "completion_tokens": 10}
    assert registry.cost_usd(compound, usage) is None
    assert registry.cost_usd(None, usage) is None
    assert registry.cost_usd({"output": 1}, usage) is None
    sonnet = registry.lookup("openrouter/anthropic/claude-sonnet-4")
    assert registry.cost_usd(sonnet, {}) is None
    assert registry.cost_usd(sonnet, None) is None
    assert registry.cost_usd(sonnet, {"prompt_tokens": 0, "completion_tokens": 0}) == 0.0


# -- the CLI -------------------------------------------------------------------------------

def _cli(tmp_path: Path, url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if not k.endswith("_API_KEY") and not k.endswith("_TOKEN") and k != "LOOMEX_MODEL"}
    base.update(LOOMEX_CONFIG_DIR=str(tmp_path / "config"), LOOMEX_DATA_DIR=str(tmp_path / "data"),
                LOOMEX_CACHE_DIR=str(tmp_path / "cache"), LOOMEX_MODELS_URL=url, NO_COLOR="1",
                COLUMNS="100", LOOMEX_LOCAL_PROBE="0")
    base.update(env)
    p = subprocess.run([loomex_bin(), *args], capture_output=True, text=True, env=base,
                       timeout=60)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def test_cli_models_query_json(tmp_path: Path, server: CatalogServer) -> None:
    p = _cli(tmp_path, server.url, "models", "claude", "--json", OPENROUTER_API_KEY="sk-or-x")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert isinstance(rows, list) and len(rows) > 50
    by_id = {r["model"]: r for r in rows}
    sonnet = by_id["openrouter/anthropic/claude-sonnet-4"]
    assert sonnet["context_window"] == 1_000_000 and sonnet["max_output"] == 64_000
    assert sonnet["cost"]["input"] == 3 and sonnet["tool_call"] is True
    assert sonnet["configured"] is True and sonnet["routable"] is True
    assert all("claude" in (r["model"] + " " + (r["name"] or "")).lower() for r in rows)
    # discovery: providers without a key are listed, marked
    assert any(not r["configured"] for r in rows)
    assert by_id["anthropic/claude-sonnet-4-20250514"]["routable"] is False
    assert server.count == 1


def test_cli_models_table_fits_100_columns(tmp_path: Path, server: CatalogServer) -> None:
    p = _cli(tmp_path, server.url, "models", FIREWORKS_API_KEY="fw-x")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:2] == ["MODEL", "CONTEXT"]
    assert max(len(line) for line in lines) <= 100
    kimi = "* fireworks/accounts/fireworks/models/kimi-k2p6 "
    assert any(line.startswith(kimi) for line in lines)
    assert not any("openrouter/" in line for line in lines)  # only configured providers


def test_cli_models_offline_falls_back(tmp_path: Path, server: CatalogServer) -> None:
    server.stop()
    p = _cli(tmp_path, server.url, "models", "--json", OPENAI_API_KEY="sk-x")
    assert p.returncode == 0, p.stderr
    assert "(model metadata unavailable: offline and no cache)" in p.stderr
    rows = json.loads(p.stdout)
    assert "openai/gpt-4.1-mini" in [r["model"] for r in rows]
    p = _cli(tmp_path, server.url, "models", OPENAI_API_KEY="sk-x")
    assert p.returncode == 0 and "openai/gpt-4.1-mini" in p.stdout.splitlines()


def test_help_and_version_do_not_fetch(tmp_path: Path, server: CatalogServer) -> None:
    for args in (["--help"], ["--version"], ["models", "--help"]):
        p = _cli(tmp_path, server.url, *args, OPENROUTER_API_KEY="x")
        assert p.returncode == 0, p.stderr
    assert server.count == 0 and not (tmp_path / "cache").exists()


def test_listing_rows(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loomex_cli.cli import listing
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    config = {"providers": {"replay": {"base_url": "http://127.0.0.1:9/v1",
                                       "models": ["test-model"]}}}
    rows, note = listing.collect(None, config, {"openrouter": "from-keys-toml"})
    assert note is None
    by_id = {r["model"]: r for r in rows}
    assert by_id["replay/test-model"]["context_window"] is None  # models.dev does not know it
    assert by_id["replay/test-model"]["configured"] is True
    sonnet = by_id["openrouter/anthropic/claude-sonnet-4"]  # configured through keys.toml
    assert sonnet["context_window"] == 1_000_000 and sonnet["configured"]
    assert not any(r["status"] == "deprecated" for r in rows)
    text = listing.render(rows, None)
    assert max(map(len, text.splitlines())) <= 100
    # a query searches every provider and marks what is configured
    rows, _ = listing.collect("claude-sonnet-4", config, {})
    by_id = {r["model"]: r for r in rows}
    assert by_id["openrouter/anthropic/claude-sonnet-4"]["configured"] is False
    assert by_id["openrouter/anthropic/claude-sonnet-4"]["routable"] is True
    assert by_id["anthropic/claude-sonnet-4-20250514"]["routable"] is False
    rows, _ = listing.collect("claude-sonnet-4", config, {"openrouter": "k"})
    assert rows[0]["provider"] == "openrouter" and rows[0]["configured"] is True  # first

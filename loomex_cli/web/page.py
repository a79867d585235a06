"""The chat page ``loomex serve`` shows at ``/``: one self-contained HTML document (no build
step, no external assets). It speaks the same protocol as ``useChat``: it posts the whole
history as UIMessages and reads the UI message stream with fetch + ReadableStream.

Files chosen with the attach button go with the next message as ``file`` parts (data URLs,
as ``useChat`` sends them; the server decides what it takes). A running tool's progress
(``data-tool-progress``) shows next to it. Everything the model or a tool wrote is put in
the page as text (``textContent``), never as HTML.

``/?q=QUESTION`` sends QUESTION as soon as the page has loaded. ``document.body.dataset.status``
is ``ready``, ``submitted``, ``streaming`` or ``error`` (what ``useChat`` calls its status).
"""

from __future__ import annotations

import html
import json

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loomex</title>
<style>
:root {
  --bg: #f7f7f5; --fg: #1d1d1f; --muted: #6e6e73; --card: #ffffff; --line: #e2e2df;
  --accent: #3a5ccc; --user: #e8edfb; --err: #b3261e; --ok: #2e7d32; --code: #f0f0ec;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #18181a; --fg: #e8e8ea; --muted: #9a9aa0; --card: #222226; --line: #34343a;
          --accent: #8fa8ff; --user: #2a3050; --err: #ff8a80; --ok: #81c784; --code: #2b2b30; }
}
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body { background: var(--bg); color: var(--fg); display: flex; flex-direction: column;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { padding: 10px 18px; border-bottom: 1px solid var(--line); display: flex;
         align-items: baseline; gap: 12px; }
header h1 { font-size: 16px; margin: 0; }
header .model { color: var(--muted); font-size: 13px; }
header .status { margin-left: auto; color: var(--muted); font-size: 13px; }
#log { flex: 1; overflow-y: auto; padding: 18px; }
.msg { max-width: 820px; margin: 0 auto 14px; }
.msg .who { font-size: 12px; color: var(--muted); margin-bottom: 2px; }
.msg.user .body { background: var(--user); border-radius: 10px; padding: 8px 12px;
                  display: inline-block; white-space: pre-wrap; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0; }
.reasoning { color: var(--muted); font-size: 13px; margin: 4px 0; }
.reasoning summary { cursor: pointer; }
.reasoning div { white-space: pre-wrap; border-left: 2px solid var(--line); padding-left: 8px; }
.tool { border: 1px solid var(--line); background: var(--card); border-radius: 8px;
        margin: 6px 0; padding: 6px 10px; font-size: 13px; }
.tool .head { display: flex; gap: 8px; align-items: baseline; }
.tool .name { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-weight: 600; }
.tool .state { color: var(--muted); }
.tool[data-state="output-available"] .state { color: var(--ok); }
.tool[data-state="output-error"] .state { color: var(--err); }
.tool pre { background: var(--code); border-radius: 6px; padding: 6px 8px; margin: 4px 0 0;
            white-space: pre-wrap; overflow-wrap: anywhere; max-height: 260px; overflow-y: auto;
            font: 12px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace; }
.tool summary { cursor: pointer; color: var(--muted); margin-top: 4px; }
.error { color: var(--err); border: 1px solid var(--err); border-radius: 8px; padding: 6px 10px;
         margin: 6px 0; }
form { border-top: 1px solid var(--line); padding: 12px 18px; }
.row { max-width: 820px; margin: 0 auto; display: flex; gap: 8px; }
textarea { flex: 1; resize: none; border: 1px solid var(--line); border-radius: 8px;
           padding: 8px 10px; font: inherit; background: var(--card); color: var(--fg);
           min-height: 40px; max-height: 200px; }
textarea:focus { outline: 2px solid var(--accent); outline-offset: -1px; }
button { border: 0; border-radius: 8px; padding: 0 16px; font: inherit; cursor: pointer;
         background: var(--accent); color: #fff; }
button.stop { background: var(--err); }
label.attach { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px;
               cursor: pointer; color: var(--muted); align-self: center; }
#files { display: none; }
.chosen, .tool .progress, .msg.user .file { color: var(--muted); font-size: 13px; }
.chosen { max-width: 820px; margin: 4px auto 0; }
.empty { color: var(--muted); text-align: center; margin-top: 18vh; }
</style>
</head>
<body data-status="ready">
<header><h1>loomex</h1><span class="model">__MODEL__</span><span class="status" id="status"></span></header>
<main id="log"><div class="empty" id="empty">Ask something. Enter sends, Shift+Enter adds a line.</div></main>
<form id="form" autocomplete="off">
  <div class="row">
    <label class="attach" title="Attach files">+<input id="files" type="file" multiple></label>
    <textarea id="input" rows="1" placeholder="Message loomex" autofocus></textarea>
    <button id="send" type="submit">Send</button>
  </div>
  <div class="chosen" id="chosen"></div>
</form>
<script>
"use strict";
const API = __API__;
const chatId = "chat_" + rid();
const messages = [];            // UIMessage[] as useChat keeps them
let controller = null;
const $ = (id) => document.getElementById(id);
const log = $("log"), input = $("input"), sendBtn = $("send"), statusEl = $("status");

function rid() {
  const a = new Uint8Array(12); crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function setStatus(s, note) {
  document.body.dataset.status = s;
  statusEl.textContent = note || (s === "ready" ? "" : s);
  sendBtn.textContent = (s === "submitted" || s === "streaming") ? "Stop" : "Send";
  sendBtn.classList.toggle("stop", s === "submitted" || s === "streaming");
}
function pretty(v) {
  if (v === undefined) return "";
  if (typeof v === "string") return v;
  try { return JSON.stringify(v, null, 2); } catch (e) { return String(v); }
}
function scrollDown() { log.scrollTop = log.scrollHeight; }

function addMessageView(msg) {
  $("empty")?.remove();
  const box = el("div", "msg " + msg.role);
  box.appendChild(el("div", "who", msg.role === "user" ? "you" : "loomex"));
  const body = el("div", "body");
  box.appendChild(body);
  log.appendChild(box);
  return body;
}

const STATE_LABEL = {
  "input-streaming": "writing the call...", "input-available": "running...",
  "output-available": "done", "output-error": "failed", "output-denied": "denied",
};

function renderAssistant(body, msg, extra) {
  body.replaceChildren();
  for (const p of msg.parts) {
    if (p.type === "text") {
      body.appendChild(el("div", "text", p.text));
    } else if (p.type === "reasoning") {
      const d = el("details", "reasoning");
      d.appendChild(el("summary", null, "reasoning"));
      d.appendChild(el("div", null, p.text));
      body.appendChild(d);
    } else if (p.type.startsWith("tool-") || p.type === "dynamic-tool") {
      const name = p.type === "dynamic-tool" ? p.toolName : p.type.slice(5);
      const t = el("div", "tool");
      t.dataset.state = p.state;
      t.dataset.tool = name;
      const head = el("div", "head");
      head.appendChild(el("span", "name", name));
      head.appendChild(el("span", "state", STATE_LABEL[p.state] || p.state));
      const pr = extra.progress[p.toolCallId];
      if (pr && p.state === "input-available") {
        const n = pr.total ? Math.round(100 * pr.progress / pr.total) + "%" : String(pr.progress);
        head.appendChild(el("span", "progress", n + (pr.message ? " " + pr.message : "")));
      }
      t.appendChild(head);
      const inputText = p.input !== undefined ? pretty(p.input) : (extra.rawInput[p.toolCallId] || "");
      if (inputText) t.appendChild(el("pre", "tool-input", inputText));
      const outText = p.state === "output-available" ? pretty(p.output)
        : p.state === "output-error" ? p.errorText : "";
      if (outText) {
        const d = el("details", "tool-output");
        d.open = outText.length <= 400 || p.state === "output-error";
        d.appendChild(el("summary", null, p.state === "output-error" ? "error" : "output"));
        d.appendChild(el("pre", null, outText));
        t.appendChild(d);
      }
      body.appendChild(t);
    }
  }
  if (extra.error) body.appendChild(el("div", "error", extra.error));
  scrollDown();
}

// One UI message stream chunk applied to the assistant message (what useChat does).
function applyChunk(msg, c, extra) {
  const tool = (id) => msg.parts.find((p) => p.toolCallId === id);
  switch (c.type) {
    case "start": if (c.messageId) msg.id = c.messageId; break;
    case "start-step": msg.parts.push({ type: "step-start" }); break;
    case "text-start": case "reasoning-start": {
      const part = { type: c.type.split("-")[0], text: "", state: "streaming" };
      extra.open[c.id] = part; msg.parts.push(part); break;
    }
    case "text-delta": case "reasoning-delta": {
      const part = extra.open[c.id];
      if (!part) throw new Error("a delta for a part that is not open: " + c.id);
      part.text += c.delta; break;
    }
    case "text-end": case "reasoning-end": {
      const part = extra.open[c.id];
      if (part) { part.state = "done"; delete extra.open[c.id]; }
      break;
    }
    case "tool-input-start":
      msg.parts.push({ type: c.dynamic ? "dynamic-tool" : "tool-" + c.toolName,
                       ...(c.dynamic ? { toolName: c.toolName } : {}),
                       toolCallId: c.toolCallId, state: "input-streaming" });
      extra.rawInput[c.toolCallId] = "";
      break;
    case "tool-input-delta":
      extra.rawInput[c.toolCallId] = (extra.rawInput[c.toolCallId] || "") + c.inputTextDelta;
      break;
    case "tool-input-available": {
      let p = tool(c.toolCallId);
      if (!p) {
        p = { type: c.dynamic ? "dynamic-tool" : "tool-" + c.toolName,
              ...(c.dynamic ? { toolName: c.toolName } : {}), toolCallId: c.toolCallId };
        msg.parts.push(p);
      }
      p.state = "input-available"; p.input = c.input; break;
    }
    case "tool-output-available": {
      const p = tool(c.toolCallId);
      if (p) { p.state = "output-available"; p.output = c.output; delete p.errorText; }
      break;
    }
    case "tool-output-error": {
      const p = tool(c.toolCallId);
      if (p) { p.state = "output-error"; p.errorText = c.errorText; }
      break;
    }
    case "error": extra.error = c.errorText || "An error occurred."; break;
    case "finish": extra.finishReason = c.finishReason; break;
    case "data-tool-progress":  // transient: shown while the tool runs, not kept
      if (c.data && c.data.toolCallId) extra.progress[c.data.toolCallId] = c.data;
      break;
    default: break;  // other data-*, sources, files, metadata: not shown
  }
}

// Server-sent events: "data:" lines up to a blank line; comments and other fields skipped.
async function* sseData(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "", data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let m;
    while ((m = /\r\n|\r|\n/.exec(buf)) && !(m[0] === "\r" && m.index === buf.length - 1)) {
      const line = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      if (line === "") { if (data.length) { yield data.join("\n"); data = []; } }
      else if (line.startsWith("data:")) data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
    }
  }
  if (data.length) yield data.join("\n");
}

function dataUrl(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

async function send(text, files) {
  const parts = text ? [{ type: "text", text }] : [];
  for (const f of files || []) {
    parts.push({ type: "file", mediaType: f.type || "text/plain", filename: f.name,
                 url: await dataUrl(f) });
  }
  const user = { id: "msg_" + rid(), role: "user", parts };
  messages.push(user);
  const view = addMessageView(user);
  view.textContent = text;
  for (const f of files || []) view.appendChild(el("div", "file", "\u{1F4CE} " + f.name));
  scrollDown();
  const msg = { id: "msg_" + rid(), role: "assistant", parts: [] };
  const extra = { open: {}, rawInput: {}, progress: {}, error: null, finishReason: null };
  let body = null;
  controller = new AbortController();
  setStatus("submitted");
  try {
    const res = await fetch(API, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: chatId, messages, trigger: "submit-message" }),
      signal: controller.signal,
    });
    body = addMessageView(msg);
    if (!res.ok || !res.body) {
      if (messages[messages.length - 1] === user) messages.pop();  // refused: not history
      let why = await res.text();
      try { why = JSON.parse(why).error || why; } catch (e) {}
      throw new Error(why || "HTTP " + res.status);
    }
    setStatus("streaming");
    for await (const data of sseData(res.body)) {
      if (data === "[DONE]") break;
      applyChunk(msg, JSON.parse(data), extra);
      renderAssistant(body, msg, extra);
    }
  } catch (e) {
    if (!body) body = addMessageView(msg);
    extra.error = e.name === "AbortError" ? "stopped" : (e.message || String(e));
    renderAssistant(body, msg, extra);
  } finally {
    controller = null;
  }
  if (msg.parts.length) messages.push(msg);
  setStatus(extra.error && extra.error !== "stopped" ? "error" : "ready");
}

$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (controller) { controller.abort(); return; }
  const text = input.value.trim();
  const files = Array.from(filesIn.files);
  if (!text && !files.length) return;
  input.value = ""; input.style.height = "";
  filesIn.value = ""; $("chosen").textContent = "";
  send(text, files);
});
const filesIn = $("files");
filesIn.addEventListener("change", () => {
  $("chosen").textContent = Array.from(filesIn.files, (f) => f.name).join(", ");
});
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault(); $("form").requestSubmit();
  }
});
input.addEventListener("input", () => {
  input.style.height = "auto"; input.style.height = Math.min(input.scrollHeight, 200) + "px";
});
const q = new URLSearchParams(location.search).get("q");
if (q) send(q);
</script>
</body>
</html>
"""


def render_page(model: str = "", api: str = "api/chat") -> str:
    """The page, naming ``model`` and posting to ``api`` (relative to the page)."""
    return (PAGE.replace("__MODEL__", html.escape(model))
            .replace("__API__", json.dumps(api).replace("<", "\\u003c")))

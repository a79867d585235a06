// The contract test of `loomex serve` with the real AI SDK client (npm `ai`, pinned in
// package-lock.json): a Chat built on the package's own AbstractChat + DefaultChatTransport,
// which is what `useChat` runs, minus React. It posts exactly what useChat posts and assembles
// the answer with the package's own stream reader; every chunk is also validated on its own
// with parseJsonEventStream + uiMessageChunkSchema.
//
//   node contract.mjs http://127.0.0.1:8000
//
// The server's model must answer (replay script, in order):
//   1. some text and a read_file call for hello.txt (which says "hello from loomex"),
//   2. text quoting the file                                            (turn 1)
//   3. any text                                                          (turn 2)
//   4. an HTTP 500                                                       (turn 3)
// Prints a JSON summary on success; exits 1 with the reason otherwise.

import { AbstractChat, DefaultChatTransport, parseJsonEventStream, uiMessageChunkSchema } from "ai";

const base = process.argv[2];
if (!base) {
  console.error("usage: node contract.mjs BASE_URL");
  process.exit(2);
}

class State {
  constructor() { this.status = "ready"; this.error = undefined; this.messages = []; }
  pushMessage(m) { this.messages = this.messages.concat(m); }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(i, m) { this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i + 1)]; }
  snapshot(x) { return structuredClone(x); }
}

class Chat extends AbstractChat {
  constructor(init) { super({ ...init, state: new State() }); }
}

const responses = [];  // every HTTP exchange: request body, status, headers, raw body
async function recordingFetch(url, init) {
  const res = await fetch(url, init);
  responses.push({
    request: JSON.parse(init.body), status: res.status,
    headers: Object.fromEntries(res.headers), body: res.clone().text(),
  });
  return res;
}

const errors = [];
const chat = new Chat({
  id: "chat_contract",
  transport: new DefaultChatTransport({ api: base + "/api/chat", fetch: recordingFetch }),
  onError: (e) => errors.push(e),
});

function fail(why, extra) {
  console.error("CONTRACT FAILED: " + why);
  if (extra !== undefined) console.error(JSON.stringify(extra, null, 2));
  process.exit(1);
}
function check(cond, why, extra) { if (!cond) fail(why, extra); }

// Each response body on its own: the headers, [DONE] last, every event a valid chunk.
async function checkRaw(r, label) {
  const text = await r.body;
  check(r.status === 200, `${label}: HTTP ${r.status}`, text);
  check((r.headers["content-type"] || "").startsWith("text/event-stream"), `${label}: content-type`, r.headers);
  check(r.headers["x-vercel-ai-ui-message-stream"] === "v1", `${label}: the protocol header is missing`, r.headers);
  check(text.endsWith("data: [DONE]\n\n"), `${label}: the stream does not end with [DONE]`, text.slice(-200));
  const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(text)); c.close(); } });
  const chunks = [];
  const reader = parseJsonEventStream({ stream, schema: uiMessageChunkSchema }).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (!value.success) fail(`${label}: the client's schema rejects a chunk`, { error: String(value.error), raw: value.rawValue });
    chunks.push(value.value);
  }
  check(chunks[0]?.type === "start" && chunks.at(-1)?.type === "finish", `${label}: start/finish`, chunks);
  return chunks;
}

const toolPart = (m) => m.parts.find((p) => p.type === "tool-read_file");
const text = (m) => m.parts.filter((p) => p.type === "text").map((p) => p.text).join("");

// -- turn 1: a tool call, its output, the answer --------------------------------------------
await chat.sendMessage({ text: "What does hello.txt say?" });
check(chat.status === "ready", `turn 1: status ${chat.status}`, { error: String(chat.error) });
check(errors.length === 0, "turn 1: onError was called", errors.map(String));
check(chat.messages.length === 2, "turn 1: expected the user message and one answer", chat.messages);
const first = chat.messages[1];
check(first.role === "assistant", "turn 1: not an assistant message", first);
check(first.id !== chat.messages[0].id && first.id.length > 0, "turn 1: message id", first.id);
const tp = toolPart(first);
check(tp, "turn 1: no tool-read_file part", first.parts);
check(tp.state === "output-available", `turn 1: tool part state ${tp?.state}`, tp);
check(tp.input && tp.input.path === "hello.txt", "turn 1: tool input", tp);
check(typeof tp.output === "string" && tp.output.includes("hello from loomex"), "turn 1: tool output", tp);
check(first.parts.filter((p) => p.type === "step-start").length === 2, "turn 1: two steps", first.parts);
const partTypes = first.parts.map((p) => p.type);
check(JSON.stringify(partTypes) === JSON.stringify(["step-start", "text", "tool-read_file", "step-start", "text"]),
  "turn 1: parts", partTypes);
check(text(first).includes("hello from loomex"), "turn 1: the answer text", first.parts);
check(first.parts.every((p) => p.type !== "text" || p.state === "done"), "turn 1: text not done", first.parts);
const chunks1 = await checkRaw(responses[0], "turn 1");
check(chunks1.at(-1).finishReason === "stop", "turn 1: finishReason", chunks1.at(-1));
check(responses[0].request.trigger === "submit-message" && responses[0].request.id === "chat_contract",
  "turn 1: request body", responses[0].request);

// -- turn 2: the history goes back with the tool part ----------------------------------------
await chat.sendMessage({ text: "Thanks!" });
check(chat.status === "ready", `turn 2: status ${chat.status}`, { error: String(chat.error) });
check(chat.messages.length === 4, "turn 2: message count", chat.messages);
check(chat.messages[1].id === first.id, "turn 2: the first answer was overwritten");
check(text(chat.messages[3]).length > 0, "turn 2: no answer text", chat.messages[3]);
check(chat.messages[3].id !== first.id, "turn 2: reused the message id of turn 1");
const sentHistory = responses[1].request.messages;
check(sentHistory.length === 3 && toolPart(sentHistory[1])?.state === "output-available",
  "turn 2: the request did not carry the tool part", sentHistory);
await checkRaw(responses[1], "turn 2");

// -- turn 3: a provider error ends in status "error" with the server's text ------------------
await chat.sendMessage({ text: "Once more?" });
check(chat.status === "error", `turn 3: status ${chat.status} (expected error)`);
check(chat.error && /HTTP 500|upstream/.test(chat.error.message), "turn 3: error message", String(chat.error));
const chunks3 = await checkRaw(responses[2], "turn 3");
check(chunks3.some((c) => c.type === "error") && chunks3.at(-1).finishReason === "error",
  "turn 3: error + finish(error)", chunks3);

console.log(JSON.stringify({
  ok: true,
  turn1: first,
  turn2: chat.messages[3],
  turn3Error: chat.error.message,
}));

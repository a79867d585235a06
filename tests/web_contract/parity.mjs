// `loomex serve`'s attachments and tool progress with the real AI SDK client (npm `ai`):
// a Chat on the package's AbstractChat + DefaultChatTransport (what useChat runs) sends a
// message with a text file as useChat sends files (a FileUIPart with a data URL); the
// server's model calls an MCP tool that reports progress.
//
//   node parity.mjs http://127.0.0.1:8000
//
// The server's model must answer (replay script): a py__slow call, then any text.
// Checks: the turn ends "ready" with the tool part done; every chunk passes the client's
// uiMessageChunkSchema; the progress reaches onData as transient `data-tool-progress` parts
// whose id is the tool call's id, and none is kept in the message.
// Prints {"progress": count, "first": data of the first} on success; exits 1 otherwise.

import { AbstractChat, DefaultChatTransport, parseJsonEventStream, uiMessageChunkSchema } from "ai";

const base = process.argv[2];

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

function fail(why, extra) {
  console.error("PARITY FAILED: " + why);
  if (extra !== undefined) console.error(JSON.stringify(extra, null, 2));
  process.exit(1);
}
function check(cond, why, extra) { if (!cond) fail(why, extra); }

const bodies = [];
async function recordingFetch(url, init) {
  const res = await fetch(url, init);
  bodies.push(res.clone().text());
  return res;
}
const data = [];
const errors = [];
const chat = new Chat({
  id: "chat_parity",
  transport: new DefaultChatTransport({ api: base + "/api/chat", fetch: recordingFetch }),
  onData: (part) => data.push(part),
  onError: (e) => errors.push(e),
});

await chat.sendMessage({
  text: "go",
  files: [{ type: "file", mediaType: "text/plain", filename: "notes.txt",
            url: "data:text/plain;base64," + Buffer.from("hello").toString("base64") }],
});
check(chat.status === "ready" && errors.length === 0, `status ${chat.status}`, errors.map(String));
const answer = chat.messages[1];
const tool = answer.parts.find((p) => p.type === "tool-py__slow");
check(tool && tool.state === "output-available", "the tool part", answer.parts);
check(answer.parts.every((p) => !p.type.startsWith("data-")), "a transient part was kept", answer.parts);
check(chat.messages[0].parts.some((p) => p.type === "file" && p.filename === "notes.txt"),
  "the user message lost its file", chat.messages[0]);

const progress = data.filter((d) => d.type === "data-tool-progress");
check(progress.length >= 2, "no progress reached onData", data);
check(progress.every((d) => d.transient === true && d.id === tool.toolCallId), "progress ids", progress);

// every chunk on its own, with the client's schema
const text = await bodies[0];
const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(text)); c.close(); } });
const reader = parseJsonEventStream({ stream, schema: uiMessageChunkSchema }).getReader();
let n = 0;
for (;;) {
  const { value, done } = await reader.read();
  if (done) break;
  if (!value.success) fail("the client's schema rejects a chunk", { error: String(value.error), raw: value.rawValue });
  n += value.value.type === "data-tool-progress" ? 1 : 0;
}
check(n === progress.length, "chunks and onData disagree", { n, got: progress.length });

console.log(JSON.stringify({ progress: progress.length, first: progress[0].data }));

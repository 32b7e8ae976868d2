// Load generator of `python -m bench fanout`: one JSON command per stdin line, one JSON reply per stdout line.
//
// Every member of a room lives in this process, so send and receive times share one monotonic clock.
// Commands:
//   {"cmd": "connect", "kind": "site"|"peer", "rooms": [[{url, cookie, origin}, ...], ...], "senders": S}
//   {"cmd": "step", "step": k, "rate": msgs_per_s, "seconds": D, "drain": s, "run": "<unique run id>"}
//   {"cmd": "handshakes", "kind", "targets": [{url, cookie, origin}], "concurrency": C}
//   {"cmd": "idle", "kind", "targets": [...], "concurrency": C}   (opens and holds)   {"cmd": "close_idle"}
//   {"cmd": "quit"}
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

const reply = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let kind = "site";
let rooms = []; // [{sockets: [ws], senders: [ws]}]
let idle = [];
let step = null; // the step being measured: counters keyed by step number carried in each body
let lastFrameAt = 0;
let late = 0;
let errors = 0;
let firstError = null;
let retries = 0;
let failures = 0;

// The body carries "<step>|<send time ms>|<id>"; the site's frame is message.new, the peer's {"message": body}.
function onFrame(data) {
  lastFrameAt = performance.now();
  const frame = JSON.parse(data);
  let body;
  if (kind === "site") {
    if (frame.type !== "message.new") {
      if (frame.type === "error") {
        errors += 1;
        firstError ??= frame;
      }
      return;
    }
    body = frame.message.body;
  } else {
    body = frame.message;
  }
  const bar = body.indexOf("|");
  const k = Number(body.slice(0, bar));
  if (step === null || k !== step.k || step.closed) {
    late += 1;
    return;
  }
  const sent = Number(body.slice(bar + 1, body.indexOf("|", bar + 1)));
  step.latencies.push(lastFrameAt - sent);
}

function open(target, { firstFrame }) {
  // Resolves once the socket is usable: for the site, when the first frame (presence) arrives, which
  // means sign-in, room authorization and group joins are done; for the peer, on open.
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target.url, { headers: { Cookie: target.cookie || "" }, origin: target.origin, perMessageDeflate: false });
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      err ? reject(err) : resolve(ws);
    };
    ws.on("error", (err) => finish(err));
    ws.on("close", (code) => finish(new Error(`closed with ${code} before ready: ${target.url}`)));
    if (firstFrame) ws.once("message", () => finish());
    else ws.once("open", () => finish());
  });
}

async function openAll(targets, concurrency, onReady, { tolerant = false } = {}) {
  const sockets = new Array(targets.length);
  let next = 0;
  async function lane() {
    while (next < targets.length) {
      const i = next++;
      for (let attempt = 1; ; attempt++) {
        try {
          sockets[i] = await open(targets[i], { firstFrame: kind === "site" });
          break;
        } catch (err) {
          // A refused or reset handshake (listen backlog full) is retried, and counted.
          if (attempt >= 5) {
            if (!tolerant) throw err;
            failures += 1;
            break;
          }
          retries += 1;
          await sleep(50 * attempt);
        }
      }
      if (sockets[i]) onReady?.(sockets[i]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, lane));
  return sockets.filter(Boolean);
}

async function connect(cmd) {
  kind = cmd.kind;
  const started = performance.now();
  rooms = [];
  for (const members of cmd.rooms) {
    const sockets = await openAll(members, 20, (ws) => ws.on("message", onFrame));
    rooms.push({ sockets, senders: sockets.slice(0, cmd.senders) });
  }
  await settle(500, 10000);
  return { connected: rooms.reduce((n, r) => n + r.sockets.length, 0), seconds: (performance.now() - started) / 1000 };
}

async function settle(quietMs, maxMs) {
  // Wait until no frame arrived for quietMs: the previous step's backlog (or join presence) is gone.
  const deadline = performance.now() + maxMs;
  while (performance.now() < deadline && performance.now() - lastFrameAt < quietMs) await sleep(50);
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function runStep(cmd) {
  await settle(300, 20000);
  const senders = rooms.flatMap((room) => room.senders.map((ws) => ({ ws, members: room.sockets.length })));
  const total = Math.max(1, Math.round(cmd.rate * cmd.seconds));
  step = { k: cmd.step, latencies: [], closed: false };
  const errorsBefore = errors;
  const lateBefore = late;
  let expected = 0;
  let sent = 0;
  const interval = 1000 / cmd.rate;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  await new Promise((resolve) => {
    function tick() {
      const now = performance.now();
      while (sent < total && started + sent * interval <= now) {
        const sender = senders[sent % senders.length];
        const body = `${cmd.step}|${performance.now()}|${sent}`;
        const text =
          kind === "site"
            ? JSON.stringify({ type: "message.send", body, client_id: `${cmd.run}-${cmd.step}-${sent}` })
            : JSON.stringify({ message: body });
        sender.ws.send(text);
        expected += sender.members;
        sent += 1;
      }
      if (sent < total) setTimeout(tick, Math.max(0, started + sent * interval - performance.now()));
      else resolve();
    }
    tick();
  });
  const sendSeconds = (performance.now() - started) / 1000;
  const drainUntil = performance.now() + cmd.drain * 1000;
  while (step.latencies.length < expected && performance.now() < drainUntil) await sleep(10);
  step.closed = true;
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const lat = Float64Array.from(step.latencies).sort();
  const delivered = lat.length;
  return {
    step: cmd.step,
    offered: sent / sendSeconds,
    sent,
    expected,
    delivered,
    delivered_per_s: delivered / sendSeconds, // over the sending window
    lost: expected - delivered,
    p50: percentile(lat, 50),
    p90: percentile(lat, 90),
    p99: percentile(lat, 99),
    max: delivered ? lat[delivered - 1] : null,
    errors: errors - errorsBefore,
    late: late - lateBefore,
    first_error: firstError,
    gen_cpu: (cpu.user + cpu.system) / 1e6 / elapsed,
    seconds: elapsed,
  };
}

async function handshakes(cmd) {
  kind = cmd.kind;
  const started = performance.now();
  const sockets = await openAll(cmd.targets, cmd.concurrency);
  const seconds = (performance.now() - started) / 1000;
  for (const ws of sockets) ws.terminate();
  return { handshakes: sockets.length, seconds, per_s: sockets.length / seconds, retries };
}

async function openIdle(cmd) {
  kind = cmd.kind;
  const started = performance.now();
  idle = idle.concat(await openAll(cmd.targets, cmd.concurrency, null, { tolerant: true }));
  return { open: idle.length, seconds: (performance.now() - started) / 1000, retries, failures };
}

const commands = {
  connect,
  step: runStep,
  handshakes,
  idle: openIdle,
  close_idle: async () => {
    for (const ws of idle) ws.terminate();
    idle = [];
    return { open: 0 };
  },
  quit: async () => {
    for (const room of rooms) for (const ws of room.sockets) ws.terminate();
    setTimeout(() => process.exit(0), 100);
    return { bye: true };
  },
};

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  const cmd = JSON.parse(line);
  queue = queue.then(async () => {
    try {
      reply({ ok: true, cmd: cmd.cmd, ...(await commands[cmd.cmd](cmd)) });
    } catch (err) {
      reply({ ok: false, cmd: cmd.cmd, error: String(err?.stack || err) });
    }
  });
});

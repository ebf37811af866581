// A NATS client that sends hostile input on a worker's behalf (or anonymously), for
// test/e2e/hostile-input.test.ts. It runs inside a dev cluster's underlay namespace (the test
// starts it with nsenter), so every byte it sends stays inside the cluster's namespaces.
//   node hostile-client.mjs '{"servers":[...],"user":"..","pass":"..","ca":".."}'
// Commands arrive one JSON object per stdin line, {id, op, ...}; one JSON line answers each:
// {id, ...result}. The first line out is {ready, maxPayload} (or {connect: error}).
import { connect, headers as natsHeaders } from 'nats';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';

const args = JSON.parse(process.argv[2]);
const enc = new TextEncoder();
const dec = new TextDecoder();
const send = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let nc;
try {
  nc = await connect({
    servers: args.servers,
    timeout: 5000,
    maxReconnectAttempts: -1,
    inboxPrefix: args.inboxPrefix,
    ...(args.user ? { user: args.user, pass: args.pass } : {}),
    ...(args.ca ? { tls: { ca: args.ca } } : {}),
  });
} catch (err) {
  send({ connect: String(err.message) });
  process.exit(0);
}
send({ ready: true, maxPayload: nc.info?.max_payload });

// Asynchronous server errors (permission violations) since the last command.
let asyncErrors = [];
void (async () => {
  for await (const s of nc.status()) if (s.type === 'error') asyncErrors.push(String(s.data?.message ?? s.data));
})();

const bytes = (c) => (c.payloadB64 !== undefined ? Buffer.from(c.payloadB64, 'base64') : enc.encode(c.payload ?? ''));
const subjectOf = (c, i) => c.subject.replaceAll('{i}', String(i));
const short = (s) => (s.length > 300 ? `${s.slice(0, 300)}...(${s.length} chars)` : s);

function hdrs(c) {
  if (!c.headers) return undefined;
  const h = natsHeaders();
  for (const [k, v] of Object.entries(c.headers)) h.set(k, v);
  return h;
}

/** Publishes `count` times (subject may hold {i}); with `replyTo`, as requests nobody waits for. */
async function pub(c) {
  const data = bytes(c);
  const count = c.count ?? 1;
  for (let i = 0; i < count; i++) {
    nc.publish(subjectOf(c, i), data, { reply: c.replyTo, headers: hdrs(c) });
    if (i % 1000 === 999) await nc.flush();
  }
  await nc.flush();
  return { published: count };
}

/** One request; the reply's text (or the error). */
async function request(c) {
  try {
    const m = await nc.request(c.subject, bytes(c), { timeout: c.timeoutMs ?? 5000, headers: hdrs(c) });
    return { reply: short(dec.decode(m.data)), replyHeaders: m.headers ? Object.fromEntries([...m.headers].map(([k, v]) => [k, v.join(',')])) : undefined };
  } catch (err) {
    return { error: String(err.message) };
  }
}

/** Listens on `subject` for `ms` (or until a message holds `until`); the subjects (and a sample of payloads) seen. */
async function sniff(c) {
  const sub = nc.subscribe(c.subject);
  const seen = [];
  const timer = setTimeout(() => sub.unsubscribe(), c.ms);
  for await (const m of sub) {
    const data = dec.decode(m.data);
    seen.push({ subject: m.subject, reply: m.reply, data: short(data) });
    if (c.until && data.includes(c.until)) sub.unsubscribe();
  }
  clearTimeout(timer);
  return { seen };
}

/**
 * Listens on `_INBOX.>` for `ms` and sends `payload` to every reply subject it sees there (the
 * inboxes of managers, meshctl and other nodes), plus to the deliver subject of every consumer
 * whose creation reply passes by (a KV watch's stream of records), with and without a forged
 * `$JS.ACK` reply subject that looks like the next record.
 */
async function inject(c) {
  const data = bytes(c);
  const sub = nc.subscribe('_INBOX.>');
  const targets = new Set();
  let sent = 0;
  const timer = setTimeout(() => sub.unsubscribe(), c.ms);
  for await (const m of sub) {
    const at = [m.subject];
    try {
      const body = JSON.parse(dec.decode(m.data));
      const deliver = body?.config?.deliver_subject;
      if (typeof deliver === 'string') at.push(deliver);
      if (body?.stream_name && body?.name && typeof deliver === 'string') {
        const ack = `$JS.ACK.${body.stream_name}.${body.name}.1.${(body.delivered?.stream_seq ?? 0) + 1}.${(body.delivered?.consumer_seq ?? 0) + 1}.${Date.now()}000000.0`;
        nc.publish(deliver, data, { reply: ack });
        sent++;
      }
    } catch {
      // not JSON: a raw inbox
    }
    for (const s of at) {
      if (targets.has(s)) continue;
      targets.add(s);
      nc.publish(s, data);
      sent++;
    }
  }
  clearTimeout(timer);
  await nc.flush();
  return { targets: targets.size, sent };
}

/** Raw protocol on a second TCP connection: `lines` written after CONNECT; what the server said. */
async function raw(c) {
  const [host, port] = args.servers[0].replace('nats://', '').split(':');
  const sock = new Socket();
  let said = '';
  await new Promise((resolve) => {
    const done = () => resolve();
    sock.on('data', (d) => (said += d.toString('latin1')));
    sock.on('close', done);
    sock.on('error', done);
    sock.connect(Number(port), host, () => {
      const auth = args.user ? { user: args.user, pass: args.pass } : {};
      sock.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...auth })}\r\n`);
      if (c.pubBytes) sock.write(`PUB ${c.subject} ${c.pubBytes}\r\n${'x'.repeat(c.pubBytes)}\r\n`);
      if (c.text) sock.write(c.text);
      sock.write('PING\r\n');
    });
    setTimeout(() => sock.destroy(), c.ms ?? 2000);
  });
  return { said: short(said.replace(/^INFO [^\r\n]*\r\n/, '')) };
}

/** Live records of `bucket` (all, or `keys`) as text (nothing decoded: a test compares them), with revisions. */
async function read(c) {
  const js = nc.jetstream({ checkAPI: false });
  const kv = await js.views.kv(c.bucket, { bindOnly: true, timeout: 3000 });
  const jsm = await nc.jetstreamManager({ checkAPI: false });
  const prefix = `$KV.${c.bucket}.`;
  const info = await jsm.streams.info(`KV_${c.bucket}`, { subjects_filter: `${prefix}>` });
  const all = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
  const records = {};
  if (c.keysOnly) return { count: all.length, messages: info.state.messages };
  // `keys`: only these (a bucket a hostile writer filled is slow to read whole)
  const keys = c.keys ? all.filter((k) => c.keys.includes(k)) : all;
  for (const k of keys) {
    const e = await kv.get(k);
    if (e && e.operation === 'PUT') records[k] = { revision: e.revision, value: dec.decode(e.value) };
  }
  return { records, messages: info.state.messages };
}

const ops = { pub, request, sniff, inject, raw, read };
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const c = JSON.parse(line);
  asyncErrors = [];
  let result;
  try {
    result = await ops[c.op](c);
  } catch (err) {
    result = { error: String(err.message) };
  }
  // Let the server's -ERR for a denied publish arrive before answering.
  await nc.flush().catch(() => undefined);
  send({ id: c.id, ...result, asyncErrors, closed: nc.isClosed() });
}
await nc.close();

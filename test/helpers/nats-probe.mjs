// Tries NATS operations as a given user and prints one JSON result per operation: what a node's
// credentials allow. Run inside a dev cluster's underlay namespace (tests: nsenter).
//   node nats-probe.mjs '{"servers":[...],"user":"..","pass":"..","ca":"..","ops":[["put","mesh_services","x"],...]}'
import { connect } from 'nats';

const args = JSON.parse(process.argv[2]);
const out = [];
let nc;
try {
  // Replies come back under the prefix the user's permissions allow (core/auth/permissions.ts).
  const inboxPrefix = args.inboxPrefix ?? (args.user?.startsWith('node-') ? `_INBOX_${args.user.slice('node-'.length)}` : args.user ? undefined : '_INBOX_join');
  nc = await connect({ servers: args.servers, timeout: 5000, inboxPrefix, ...(args.user ? { user: args.user, pass: args.pass } : {}), ...(args.ca ? { tls: { ca: args.ca } } : {}) });
} catch (err) {
  console.log(JSON.stringify({ connect: String(err.message) }));
  process.exit(0);
}
const js = nc.jetstream();
for (const [op, a, b] of args.ops) {
  try {
    if (op === 'put') {
      const kv = await js.views.kv(a, { bindOnly: true, timeout: 3000 });
      await kv.put(b, new TextEncoder().encode('{"probe":true}'));
      out.push('ok');
    } else if (op === 'get') {
      const kv = await js.views.kv(a, { bindOnly: true, timeout: 3000 });
      await kv.get(b);
      out.push('ok');
    } else if (op === 'keys') {
      const kv = await js.views.kv(a, { bindOnly: true, timeout: 3000 });
      const keys = [];
      for await (const k of await kv.keys()) keys.push(k);
      out.push(keys.sort());
    } else if (op === 'values') {
      // Every live value of a bucket, { key: value }, read from the stream's subject list.
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(`KV_${a}`, { subjects_filter: `$KV.${a}.>` });
      const kv = await js.views.kv(a, { bindOnly: true, timeout: 3000 });
      const values = {};
      for (const subj of Object.keys(info.state.subjects ?? {})) {
        const e = await kv.get(subj.slice(`$KV.${a}.`.length));
        if (e && e.operation === 'PUT') values[e.key] = JSON.parse(new TextDecoder().decode(e.value));
      }
      out.push(values);
    } else if (op === 'streamMessages') {
      const jsm = await nc.jetstreamManager();
      out.push((await jsm.streams.info(a)).state.messages);
    } else if (op === 'lastSeq') {
      const jsm = await nc.jetstreamManager();
      out.push((await jsm.streams.info(a)).state.last_seq);
    } else if (op === 'streamLeader') {
      const jsm = await nc.jetstreamManager();
      out.push((await jsm.streams.info(a)).cluster?.leader ?? '');
    } else if (op === 'request') {
      await nc.request(a, new TextEncoder().encode(b ?? '{}'), { timeout: 3000 });
      out.push('ok');
    }
  } catch (err) {
    out.push(`error: ${err.message}`);
  }
}
console.log(JSON.stringify({ results: out }));
await nc.close();

// Sends one NATS request and prints its reply (decoded JSON) or the error: what a manager answers
// to a client (tests run it in a dev cluster's underlay namespace with nsenter).
//   node nats-reply.mjs '{"servers":[...],"user":"..","pass":"..","subject":"mesh.join.request","payload":{...},"inboxPrefix"?:".."}'
import { connect } from 'nats';

const args = JSON.parse(process.argv[2]);
let nc;
try {
  // Reply subjects each user may subscribe to (core/auth/permissions.ts): a node's own, or the joiners'.
  const inboxPrefix = args.inboxPrefix ?? (args.user?.startsWith('node-') ? `_INBOX_${args.user.slice('node-'.length)}` : args.user ? undefined : '_INBOX_join');
  nc = await connect({ servers: args.servers, timeout: 5000, inboxPrefix, ...(args.user ? { user: args.user, pass: args.pass } : {}) });
} catch (err) {
  console.log(JSON.stringify({ connect: String(err.message) }));
  process.exit(0);
}
try {
  const msg = await nc.request(args.subject, new TextEncoder().encode(JSON.stringify(args.payload)), { timeout: 15000 });
  console.log(JSON.stringify({ reply: JSON.parse(new TextDecoder().decode(msg.data)) }));
} catch (err) {
  console.log(JSON.stringify({ error: String(err.message) }));
}
await nc.close();

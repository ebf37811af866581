// Publishes as fast as it can on the given subjects, cycling through the given payloads, until
// killed or `seconds` pass; prints how many it sent. A stand-in for a buggy or hostile worker.
//   node flood.mjs '{"servers":"nats://...","subjects":["mesh.hb.x"],"payloads":["..."],"seconds":10}'
import { connect } from 'nats';

const args = JSON.parse(process.argv[2]);
const nc = await connect({ servers: args.servers, ...(args.user ? { user: args.user, pass: args.pass } : {}) });
const enc = new TextEncoder();
const payloads = args.payloads.map((p) => enc.encode(p));
const until = Date.now() + args.seconds * 1000;
let sent = 0;
while (Date.now() < until) {
  for (let i = 0; i < 500; i++, sent++) nc.publish(args.subjects[sent % args.subjects.length], payloads[sent % payloads.length]);
  // let the socket drain so the client's buffer stays bounded
  await nc.flush();
}
console.log(JSON.stringify({ sent }));
await nc.close();

// A stand-in upstream resolver for tests: answers example.test A 192.0.2.7, NXDOMAIN otherwise,
// and prints every question it is asked ("QUERY <name> <type>") so a test can tell what reached it.
import dns2 from 'dns2';

const { Packet } = dns2;
const [address = '127.0.0.1', port = '53'] = process.argv.slice(2);
const server = dns2.createServer({
  udp: true,
  handle: (req, send) => {
    const res = Packet.createResponseFromRequest(req);
    const q = req.questions[0];
    console.log(`QUERY ${q?.name} ${q?.type}`);
    if (q && q.name.toLowerCase() === 'example.test' && q.type === Packet.TYPE.A) {
      res.answers.push({ name: q.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 60, address: '192.0.2.7' });
    } else {
      res.header.rcode = 3;
    }
    send(res);
  },
});
await server.listen({ udp: { port: Number(port), address } });
console.log('LISTENING');

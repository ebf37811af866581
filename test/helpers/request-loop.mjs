// A steady request loop for fault drills: GET url every intervalMs for durationMs (each with a
// timeoutMs limit), then prints every request as JSON: [{ start, ms, ok, connected, status?, error?, code? }]
// (start is epoch ms; connected: the TCP connection was established, so a failure after it is a
// broken connection, not a refused one). Run inside the namespace the client lives in (tests:
// nsenter into the underlay, or `meshctl task exec` into a task).
// With STOP_FILE it also ends as soon as that file exists (the duration is then an upper bound).
// Writes `ready` to stderr after its first successful request.
//   node request-loop.mjs URL DURATION_MS [INTERVAL_MS=50] [TIMEOUT_MS=1000] [STOP_FILE]
import http from 'node:http';
import { existsSync } from 'node:fs';

const [url, durationText, intervalText = '50', timeoutText = '1000', stopFile] = process.argv.slice(2);
const duration = Number(durationText);
const interval = Number(intervalText);
const timeout = Number(timeoutText);
const results = [];
const agent = new http.Agent({ keepAlive: false });
let ready = false;

function once() {
  const start = Date.now();
  let connected = false;
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout }, (res) => {
      res.resume();
      res.on('end', () => {
        const ok = res.statusCode === 200;
        if (ok && !ready) {
          ready = true;
          process.stderr.write('ready\n');
        }
        resolve({ start, ms: Date.now() - start, ok, connected, status: res.statusCode });
      });
      res.on('error', (err) => resolve({ start, ms: Date.now() - start, ok: false, connected, error: err.message }));
    });
    req.on('socket', (s) => s.once('connect', () => (connected = true)));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ start, ms: Date.now() - start, ok: false, connected, error: err.message, ...(err.code && { code: err.code }) }));
  });
}

const end = Date.now() + duration;
const pending = [];
while (Date.now() < end && !(stopFile && existsSync(stopFile))) {
  pending.push(once().then((r) => results.push(r)));
  await new Promise((r) => setTimeout(r, interval));
}
await Promise.all(pending);
console.log(JSON.stringify(results.sort((a, b) => a.start - b.start)));

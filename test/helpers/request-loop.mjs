// A steady request loop for fault drills: GET url every intervalMs for durationMs (each with a
// timeoutMs limit), then prints every request as JSON: [{ start, ms, ok, error? }] (start is
// epoch ms). Run inside the namespace the client lives in (tests: nsenter into the underlay).
//   node request-loop.mjs URL DURATION_MS [INTERVAL_MS=50] [TIMEOUT_MS=1000]
import http from 'node:http';

const [url, durationText, intervalText = '50', timeoutText = '1000'] = process.argv.slice(2);
const duration = Number(durationText);
const interval = Number(intervalText);
const timeout = Number(timeoutText);
const results = [];
const agent = new http.Agent({ keepAlive: false });

function once() {
  const start = Date.now();
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout }, (res) => {
      res.resume();
      res.on('end', () => resolve({ start, ms: Date.now() - start, ok: res.statusCode === 200 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ start, ms: Date.now() - start, ok: false, error: err.message }));
  });
}

const end = Date.now() + duration;
const pending = [];
while (Date.now() < end) {
  pending.push(once().then((r) => results.push(r)));
  await new Promise((r) => setTimeout(r, interval));
}
await Promise.all(pending);
console.log(JSON.stringify(results.sort((a, b) => a.start - b.start)));

// A steady request loop for fault drills: GET url every intervalMs for durationMs (each with a
// timeoutMs limit), then prints every request as JSON: [{ start, ms, ok, resolved, connected, status?, error?, code? }]
// (start is epoch ms; connected: the TCP connection was established, so a failure after it is a
// broken connection, not a refused one). Run inside the namespace the client lives in (tests:
// nsenter into the underlay, or `meshctl task exec` into a task).
// With STOP_FILE it also ends as soon as that file exists (the duration is then an upper bound).
// Writes `ready` to stderr after its first successful request. TIMEOUT_MS bounds each request
// whole, name lookup included (a lookup of a name the cluster no longer knows is forwarded
// upstream and can take seconds, holding one of libuv's four lookup threads: without the bound
// the loop would queue lookups faster than they end).
// With DNS_CACHE_MS > 0 the host name is looked up through the system resolver (the task's
// resolv.conf) at most once at a time and its answer reused for that long, as a caching client
// does (DNS TTL): the loop then measures the path to the address, and one slow lookup (glibc
// waits 5 s for a lost UDP answer) does not starve libuv's four lookup threads at 50 lookups/s.
// While a refresh is under way the previous answer is used.
//   node request-loop.mjs URL DURATION_MS [INTERVAL_MS=50] [TIMEOUT_MS=1000] [STOP_FILE] [DNS_CACHE_MS=0]
import http from 'node:http';
import dns from 'node:dns';
import { existsSync } from 'node:fs';

const [url, durationText, intervalText = '50', timeoutText = '1000', stopFileArg = '', dnsCacheText = '0'] = process.argv.slice(2);
const stopFile = stopFileArg || undefined;
const dnsCacheMs = Number(dnsCacheText);
let cached; // { at, address, family }
let refreshing; // Promise of a lookup in flight

function refresh(host) {
  refreshing ??= new Promise((resolve) =>
    dns.lookup(host, { family: 4 }, (err, address, family) => {
      refreshing = undefined;
      if (!err) cached = { at: Date.now(), address, family };
      resolve(err);
    }),
  );
  return refreshing;
}

function cachingLookup(host, opts, cb) {
  const answer = (a) => (opts.all ? cb(null, [{ address: a.address, family: a.family }]) : cb(null, a.address, a.family));
  if (cached && Date.now() - cached.at < dnsCacheMs) return process.nextTick(() => answer(cached));
  const pending = refresh(host);
  if (cached) return process.nextTick(() => answer(cached));
  void pending.then((err) => (cached ? answer(cached) : cb(err ?? new Error('lookup failed'))));
}
const duration = Number(durationText);
const interval = Number(intervalText);
const timeout = Number(timeoutText);
const results = [];
const agent = new http.Agent({ keepAlive: false });
let ready = false;

function once() {
  const start = Date.now();
  let connected = false;
  let resolved = false;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      resolve({ start, ms: Date.now() - start, resolved, connected, ...r });
    };
    const req = http.get(url, { agent, ...(dnsCacheMs > 0 && { lookup: cachingLookup }) }, (res) => {
      res.resume();
      res.on('end', () => {
        const ok = res.statusCode === 200;
        if (ok && !ready) {
          ready = true;
          process.stderr.write('ready\n');
        }
        finish({ ok, status: res.statusCode });
      });
      res.on('error', (err) => finish({ ok: false, status: res.statusCode, error: err.message }));
      res.on('close', () => finish({ ok: false, status: res.statusCode, error: 'response closed before its end' }));
    });
    const deadline = setTimeout(() => req.destroy(new Error('timeout')), timeout);
    req.on('socket', (s) => {
      s.once('lookup', () => (resolved = true));
      s.once('connect', () => ((resolved = true), (connected = true)));
    });
    req.on('error', (err) => finish({ ok: false, error: err.message, ...(err.code && { code: err.code }) }));
  });
}

const end = Date.now() + duration;
const pending = [];
while (Date.now() < end && !(stopFile && existsSync(stopFile))) {
  pending.push(once().then((r) => results.push(r)));
  await new Promise((r) => setTimeout(r, interval));
}
await Promise.all(pending);
// Exit once written: lookups still running in libuv's threads would otherwise keep the process.
process.stdout.write(JSON.stringify(results.sort((a, b) => a.start - b.start)) + '\n', () => process.exit(0));

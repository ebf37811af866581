import * as z from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNats, type TestNats } from '../helpers/nats.js';
import { openBuckets, type Buckets } from '../../core/state/buckets.js';
import { KvMirror } from '../../core/state/mirror.js';
import { encode } from '../../core/state/codec.js';
import { listKeys } from '../../core/state/read.js';
import { createLogger } from '../../core/log.js';
import { StatePurger } from '../../manager/state-purger.js';

const log = createLogger({ level: 'error' });

const N = { schema: z.object({ n: z.int() }) };

describe('delete markers are purged (real nats-server)', () => {
  let nats: TestNats;
  let buckets: Buckets;
  const count = async (b: Buckets['tasks']) => (await b.status()).streamInfo.state.messages;

  beforeAll(async () => {
    nats = await startTestNats();
    buckets = await openBuckets(await nats.connect(), { create: { replicas: 1 } });
  });
  afterAll(async () => nats?.stop());

  it('after 200 create/delete cycles the stream holds only live keys; a live mirror and a new one agree', async () => {
    const mirror = new KvMirror<{ n: number }>(buckets.tasks, { name: 'tasks', log, kind: N }).start();
    await mirror.ready;
    await buckets.tasks.put('keep.1', encode({ n: 1 }));
    const start = await count(buckets.tasks);
    for (let i = 0; i < 200; i++) {
      await buckets.tasks.put(`n.t${i}`, encode({ n: i }));
      await buckets.tasks.delete(`n.t${i}`);
    }
    expect(await count(buckets.tasks)).toBe(start + 200);
    const purger = new StatePurger({ buckets, log, olderThanMs: 300 });
    // A marker is purged only once a sweep at least olderThanMs earlier saw it.
    expect(await purger.sweepAll()).toBe(0);
    await new Promise((r) => setTimeout(r, 350));
    expect(await purger.sweepAll()).toBe(200);
    expect(await count(buckets.tasks)).toBe(start);
    expect(await listKeys(buckets.tasks)).toEqual(['keep.1']);
    await mirror.caughtUp((await buckets.tasks.status()).streamInfo.state.last_seq);
    expect(mirror.keys()).toEqual(['keep.1']);
    const fresh = new KvMirror<{ n: number }>(buckets.tasks, { name: 'tasks2', log, kind: N }).start();
    await fresh.ready;
    expect(fresh.keys()).toEqual(['keep.1']);
    mirror.stop();
    fresh.stop();
    // Nothing young is purged: a delete made now survives the next sweep.
    await buckets.tasks.delete('keep.1');
    expect(await purger.sweepAll()).toBe(0);
    expect(await count(buckets.tasks)).toBe(start);
  });
});

import { describe, expect, it } from 'vitest';
import { workerPermissions } from '../../core/auth/permissions.js';

/** NATS subject matching: `*` one token, `>` one or more trailing tokens. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}
const mayPublish = (nodeId: string, subject: string) => workerPermissions(nodeId).publish.allow.some((p) => matches(p, subject));

describe('worker NATS permissions', () => {
  it('lets a worker write its own mesh_applied key and no other node\'s', () => {
    expect(mayPublish('n1', '$KV.mesh_applied.n1')).toBe(true);
    expect(mayPublish('n1', '$KV.mesh_applied.n2')).toBe(false);
    expect(mayPublish('n1', '$KV.mesh_applied.n1.extra')).toBe(false);
    expect(mayPublish('n1', '$KV.mesh_applied.>')).toBe(false);
  });

  it('lets it read mesh_applied like the other state buckets, and never the credential buckets', () => {
    for (const bucket of ['mesh_applied', 'mesh_tasks', 'mesh_status']) {
      expect(mayPublish('n1', `$JS.API.CONSUMER.CREATE.KV_${bucket}`)).toBe(true);
      expect(mayPublish('n1', `$JS.API.DIRECT.GET.KV_${bucket}.$KV.${bucket}.n2`)).toBe(true);
    }
    expect(mayPublish('n1', '$JS.API.CONSUMER.CREATE.KV_mesh_auth')).toBe(false);
    expect(mayPublish('n1', '$JS.API.STREAM.PURGE.KV_mesh_applied')).toBe(false);
  });

  it('lets it ask for CNI endpoints on itself only, and read mesh_endpoints but never write it (managers do)', () => {
    expect(mayPublish('n1', 'mesh.endpoint.n1.attach')).toBe(true);
    expect(mayPublish('n1', 'mesh.endpoint.n1.detach')).toBe(true);
    expect(mayPublish('n1', 'mesh.endpoint.n2.attach')).toBe(false);
    expect(mayPublish('n1', '$JS.API.CONSUMER.CREATE.KV_mesh_endpoints')).toBe(true);
    expect(mayPublish('n1', '$KV.mesh_endpoints.n1.e1')).toBe(false);
  });

  it('keeps its status writes under its own id', () => {
    expect(mayPublish('n1', '$KV.mesh_status.n1.t1')).toBe(true);
    expect(mayPublish('n1', '$KV.mesh_status.n2.t1')).toBe(false);
  });
});

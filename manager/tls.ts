/**
 * `--tls`: a cluster CA made when the cluster is created (its key travels only to managers,
 * sealed in their join grant), and one server certificate per manager for its advertise
 * address, made from it at start. Made by the openssl CLI (Node cannot issue certificates).
 * The certificate also names `localhost`: nats.js verifies IP-addressed servers under that name,
 * so trust rests on the cluster CA (pinned by the join token's fingerprint), not the name.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../core/exec.js';
import type { TlsMaterial } from '../core/auth/secrets.js';

const CURVE = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'meshd-tls-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function newClusterCa(): Promise<TlsMaterial> {
  return inTempDir(async (dir) => {
    await run(['openssl', 'req', '-x509', ...CURVE, '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'), '-days', '3650', '-subj', '/CN=meshd cluster CA']);
    return { caCert: await readFile(join(dir, 'ca.pem'), 'utf8'), caKey: await readFile(join(dir, 'ca.key'), 'utf8') };
  });
}

export interface ServerTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** Writes `<stateDir>/tls/{server.pem,server.key,ca.pem}` for a manager at `addr`. */
export async function writeServerCert(ca: TlsMaterial, addr: string, stateDir: string): Promise<ServerTlsFiles> {
  const out = join(stateDir, 'tls');
  await run(['mkdir', '-p', '-m', '700', out]);
  const files = { certFile: join(out, 'server.pem'), keyFile: join(out, 'server.key'), caFile: join(out, 'ca.pem') };
  await inTempDir(async (dir) => {
    await writeFile(join(dir, 'ca.pem'), ca.caCert);
    await writeFile(join(dir, 'ca.key'), ca.caKey, { mode: 0o600 });
    await writeFile(join(dir, 'ext.cnf'), `subjectAltName=IP:${addr},IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n`);
    await run(['openssl', 'req', ...CURVE, '-keyout', files.keyFile, '-out', join(dir, 'server.csr'), '-subj', `/CN=meshd manager ${addr}`]);
    await run(['openssl', 'x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-out', files.certFile, '-days', '825', '-extfile', join(dir, 'ext.cnf')]);
  });
  await writeFile(files.caFile, ca.caCert);
  return files;
}

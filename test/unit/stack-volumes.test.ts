import { describe, expect, it } from 'vitest';
import { FILE, parse, problemsOf } from './stack-helpers.js';
import { optionArgs } from '../../worker/engine/podman-argv.js';

const STACK = `services:
  db:
    image: db:1
    volumes:
      - /srv/config:/etc/db:ro
      - data:/var/lib/db
      - /var/cache/db
      - shared:/shared
      - type: bind
        source: /srv/certs/
        target: /certs
        read_only: true
      - type: volume
        source: logs
        target: /logs
      - type: tmpfs
        target: /scratch
        tmpfs: { size: 16m }
volumes:
  data:
  logs: { driver: local }
  shared: { external: true }
`;

describe('compose volumes (Swarm semantics: bind paths and local volumes on the node that runs the task)', () => {
  it('reads short and long mounts; named volumes get the stack prefix unless external', () => {
    const { spec, warnings } = parse(STACK);
    expect(warnings).toEqual([]);
    expect(spec.services.db!.container?.mounts).toEqual([
      { type: 'bind', source: '/srv/config', target: '/etc/db', readOnly: true },
      { type: 'volume', source: 'shop_data', target: '/var/lib/db', readOnly: false },
      { type: 'volume', target: '/var/cache/db', readOnly: false },
      { type: 'volume', source: 'shared', target: '/shared', readOnly: false },
      { type: 'bind', source: '/srv/certs', target: '/certs', readOnly: true },
      { type: 'volume', source: 'shop_logs', target: '/logs', readOnly: false },
      { type: 'tmpfs', target: '/scratch', readOnly: false, sizeBytes: 16 * 1024 ** 2 },
    ]);
  });

  it('renders them as podman flags', () => {
    expect(optionArgs(parse(STACK).spec.services.db!.container!)).toEqual([
      '--mount', 'type=bind,source=/srv/config,destination=/etc/db,readonly=true',
      '--mount', 'type=volume,source=shop_data,destination=/var/lib/db',
      '--volume', '/var/cache/db',
      '--mount', 'type=volume,source=shared,destination=/shared',
      '--mount', 'type=bind,source=/srv/certs,destination=/certs,readonly=true',
      '--mount', 'type=volume,source=shop_logs,destination=/logs',
      '--mount', 'type=tmpfs,destination=/scratch,tmpfs-size=16777216',
    ]);
  });

  it('honours a volume name of its own', () => {
    const { spec } = parse('services:\n  a:\n    image: x\n    volumes: ["d:/d"]\nvolumes:\n  d: { name: legacy-data }\n');
    expect(spec.services.a!.container?.mounts).toEqual([{ type: 'volume', source: 'legacy-data', target: '/d', readOnly: false }]);
  });

  it('warns that a command service ignores volumes', () => {
    expect(parse('services:\n  job:\n    command: [sleep, "1"]\n    volumes: ["/x:/y"]\n').warnings).toEqual(['services.job.volumes: apply only to services with an image; ignored']);
  });

  it.each([
    ['volumes: ["./conf:/etc/conf"]', 'services.web.volumes[0]: relative bind mount "./conf": use an absolute path on the node (a stack\'s tasks run on any node)'],
    ['volumes: ["data:etc"]', 'services.web.volumes[0]: target must be an absolute path, got "etc"'],
    ['volumes: ["/a:/b:rx"]', 'services.web.volumes[0]: mode must be ro or rw, got "rx"'],
    ['volumes: ["/a,b:/b"]', 'services.web.volumes[0]: source must not contain a comma or a colon, got "/a,b"'],
    ['volumes: ["nope:/b"]', 'services.web.volumes[0]: volume "nope" is not declared in the top-level volumes'],
    ['volumes: ["/a:/b", "/c:/b"]', 'services.web.volumes[1]: target /b is already mounted by volumes[0]'],
    ['volumes: [{ type: bind, target: /b }]', 'services.web.volumes[0].source: required for a bind mount: an absolute path on the node'],
    ['volumes: [{ type: nfs, source: x, target: /b }]', 'services.web.volumes[0].type: must be bind, volume or tmpfs, got "nfs"'],
  ])('refuses %s, naming the key', (line, problem) => {
    expect(problemsOf(`services:\n  web:\n    image: x\n    ${line}\n`)).toEqual([`${FILE}: ${problem}`]);
  });

  it('refuses a volume driver other than local', () => {
    expect(problemsOf('services:\n  web:\n    image: x\nvolumes:\n  d: { driver: nfs }\n')).toEqual([`${FILE}: volumes.d.driver: only the local driver is supported, got "nfs"`]);
  });
});

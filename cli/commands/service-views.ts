import { DEFAULT_UPDATE_CONFIG, type ServiceRecord, type ServiceSpec, type TaskRecord, type UpdateConfig } from '../../core/model.js';
import { ago, capitalise } from '../format.js';
import { networkName, nodeName, replicaCounts, type ClusterSnapshot } from '../cluster-view.js';

/** `service ls` row, with Docker's field names. */
export function serviceRow(snap: ClusterSnapshot, s: ServiceRecord): Record<string, string> {
  const { running, desired } = replicaCounts(snap, s);
  return {
    ID: s.id.slice(0, 12),
    Name: s.name,
    Mode: s.spec.mode,
    Replicas: `${running}/${desired}`,
    Image: s.spec.image ?? '',
    Ports: s.endpoint.ports.map((p) => `*:${p.published}->${p.target}/${p.protocol}`).join(', '),
  };
}

/** `service ps` / `stack ps` row, with Docker's field names. */
export function taskRow(snap: ClusterSnapshot, t: TaskRecord): Record<string, unknown> {
  const st = snap.statuses.get(t.id);
  const state = st ? `${capitalise(st.state)} ${ago(st.updatedAt)}` : `Assigned ${ago(t.createdAt)}`;
  const failed = st && (st.state === 'failed' || st.state === 'rejected');
  return {
    ID: t.id.slice(0, 12),
    Name: t.name,
    Node: nodeName(snap, t.nodeId),
    DesiredState: capitalise(t.desiredState),
    CurrentState: state,
    Error: failed ? st.message : (st?.error ?? ''),
    Restarts: st?.restarts ?? 0,
    CreatedAt: t.createdAt,
    Health: st?.health ?? '',
    Addresses: t.addresses.map((a) => ({ Network: networkName(snap, a.networkId), NetworkID: a.networkId, Addr: a.addr })),
  };
}

/** Docker's UpdateConfig / RollbackConfig (durations in nanoseconds). */
function pacingView(c: UpdateConfig): Record<string, unknown> {
  return { Parallelism: c.parallelism, Delay: c.delayMs * 1e6, FailureAction: c.failureAction, Monitor: c.monitorMs * 1e6, MaxFailureRatio: c.maxFailureRatio, Order: c.order };
}

/** `service inspect`: Docker's shape, where we have the same things. */
export function serviceInspect(snap: ClusterSnapshot, s: ServiceRecord): Record<string, unknown> {
  const ports = s.endpoint.ports.map((p) => ({ Protocol: p.protocol, TargetPort: p.target, PublishedPort: p.published, PublishMode: p.mode }));
  const u = s.updateStatus;
  return {
    ID: s.id,
    Version: { Index: s.version },
    CreatedAt: s.createdAt,
    UpdatedAt: s.updatedAt,
    Spec: specView(s, s.spec, ports),
    ...(s.previousSpec && { PreviousSpec: specView(s, s.previousSpec, ports) }),
    ...(u && { UpdateStatus: { State: u.state, StartedAt: u.startedAt, ...(u.completedAt && { CompletedAt: u.completedAt }), Message: u.message } }),
    Endpoint: {
      Spec: { Mode: s.spec.endpointMode, Ports: ports },
      Ports: ports,
      VirtualIPs: s.endpoint.vips.map((v) => ({ NetworkID: v.networkId, Addr: v.addr })),
    },
    // The registries whose login the managers keep for it (--with-registry-auth); never the login.
    Meshd: { Fwmark: s.fwmark, Networks: s.networks.map((n) => networkName(snap, n.networkId)), RegistryAuth: s.registryAuth ?? [], ...(s.resolveImage && { ResolveImage: s.resolveImage }) },
  };
}

function specView(s: ServiceRecord, spec: ServiceSpec, ports: unknown[]): Record<string, unknown> {
  return {
  Name: s.name,
  Labels: { 'com.docker.stack.namespace': s.stack },
  TaskTemplate: {
    ContainerSpec: { Image: spec.image ?? '', Command: spec.entrypoint ?? [], Args: spec.command ?? [], Env: Object.entries(spec.environment).map(([k, v]) => `${k}=${v}`) },
    RestartPolicy: { Condition: spec.restartPolicy.condition, Delay: spec.restartPolicy.delayMs * 1e6, MaxAttempts: spec.restartPolicy.maxAttempts },
    Placement: { Constraints: spec.constraints.map((c) => `${c.key}${c.op}${c.value}`) },
    Networks: s.networks.map((n) => ({ Target: n.networkId, Aliases: n.aliases })),
  },
  Mode: spec.mode === 'global' ? { Global: {} } : { Replicated: { Replicas: spec.replicas } },
  UpdateConfig: pacingView(spec.updateConfig ?? DEFAULT_UPDATE_CONFIG),
  RollbackConfig: pacingView(spec.rollbackConfig ?? DEFAULT_UPDATE_CONFIG),
  EndpointSpec: { Mode: spec.endpointMode, Ports: ports },
  };
}

/** `meshctl dev`: a multi-node meshd cluster on one machine, each node its own network namespace. */
export * from './paths.js';
export * from './cluster.js';
export { createUnderlay, attachNode, bridgePortName } from './underlay.js';
export {
  startNode,
  stopNode,
  killNode,
  crashNode,
  runningPid,
  meshdArgsFor,
  defaultMeshdCommand,
  REPO_ROOT,
  STOP_TIMEOUT_MS,
  type StartNodeOptions,
  type StopNodeOptions,
  type StopResult,
} from './node-process.js';
export { devExec, underlayExec, runInUnderlay, selfArgv, isInUnderlay, execInherit, UNDERLAY_ENV } from './exec.js';
export { devUp, READY_TIMEOUT_MS, type DevUpOptions } from './up.js';
export { devDown, type DevDownOptions, type DevDownReport } from './down.js';
export { devList, formatDevList, type DevClusterSummary } from './list.js';
export { teardownDir, type TeardownReport } from './teardown.js';
export { clusterLogTails, tailFile } from './logtail.js';

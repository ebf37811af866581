/**
 * `meshctl service update`: the flags Docker's `service update` takes that meshd supports, applied
 * to a service's spec as a pure step (the deployer writes the result like a deploy).
 */
import type { ServiceSpec, UpdateConfig } from '../../core/model.js';
import { DEFAULT_UPDATE_CONFIG } from '../../core/model.js';
import { ValidationError } from '../../core/errors.js';
import { ENV_NAME_PATTERN } from '../stack/schema.js';

export interface ServiceUpdateRequest {
  service: string;
  /** `--image`. */
  image?: string;
  /** `--env-add K=V` (repeated). */
  envAdd?: Record<string, string>;
  /** `--env-rm K` (repeated). */
  envRm?: string[];
  /** `--replicas N`. */
  replicas?: number;
  /** `--force`: new tasks even when nothing changed. */
  force?: boolean;
  /** `--update-parallelism`, `--update-delay`, ... */
  updateConfig?: Partial<UpdateConfig>;
  /** `--rollback-parallelism`, `--rollback-delay`, ... */
  rollbackConfig?: Partial<UpdateConfig>;
}

/** The spec after the request's changes; refuses what cannot apply, naming the flag. */
export function applyServiceUpdate(spec: ServiceSpec, req: ServiceUpdateRequest): ServiceSpec {
  const problems: string[] = [];
  if (req.replicas !== undefined && spec.mode !== 'replicated') problems.push('--replicas: can only be used with replicated mode');
  if (req.image !== undefined && req.image.trim() === '') problems.push('--image: must not be empty');
  for (const k of [...Object.keys(req.envAdd ?? {}), ...(req.envRm ?? [])]) {
    if (!ENV_NAME_PATTERN.test(k)) problems.push(`--env-add/--env-rm: ${JSON.stringify(k)} is not a variable name (letters, digits and _, not starting with a digit)`);
  }
  if (req.rollbackConfig?.failureAction === 'rollback') problems.push('--rollback-failure-action: must be "pause" or "continue"');
  if (problems.length) throw new ValidationError(problems);
  const environment = { ...spec.environment, ...req.envAdd };
  for (const k of req.envRm ?? []) delete environment[k];
  return {
    ...spec,
    ...(req.image !== undefined && { image: req.image }),
    environment,
    ...(req.replicas !== undefined && { replicas: req.replicas }),
    updateConfig: { ...(spec.updateConfig ?? DEFAULT_UPDATE_CONFIG), ...req.updateConfig },
    rollbackConfig: { ...(spec.rollbackConfig ?? DEFAULT_UPDATE_CONFIG), ...req.rollbackConfig },
  };
}

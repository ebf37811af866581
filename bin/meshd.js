#!/usr/bin/env node
// Runs meshd from its TypeScript source through tsx's loader (no build step to go stale).
import { register } from 'tsx/esm/api';
register();
await import('../cli/meshd.ts');

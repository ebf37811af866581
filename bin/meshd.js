#!/usr/bin/env node
// meshd's entry: the bundle in dist/ when it is fresh, else the TypeScript sources (bin/entry.js).
import { loadEntry } from './entry.js';
await loadEntry('meshd');

#!/usr/bin/env node
// The meshd CNI plugin's entry (scripts/setup.sh installs /opt/cni/bin/meshd to run it): the bundle
// in dist/ when it is fresh, else the TypeScript sources (bin/entry.js).
import { loadEntry } from './entry.js';
await loadEntry('meshd-cni');

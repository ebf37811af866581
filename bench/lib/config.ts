/** How much each row measures: the full run, or --quick (fewer and shorter runs; it was under 5 minutes on 2 cores before row 9 added about 2.5). */

export interface BenchConfig {
  quick: boolean;
  /** iperf3: seconds per run and runs per case. */
  iperfSeconds: number;
  iperfRuns: number;
  /** wrk: seconds per run, runs per case, connections. */
  wrkSeconds: number;
  wrkRuns: number;
  wrkConnections: number;
  /** Convergence repetitions: deploy (port + name), replica kill, scale 3 -> 20 -> 3. */
  deployReps: number;
  killReps: number;
  scaleReps: number;
  /** Rule sync: repetitions of each measured sync. */
  syncReps: number;
  /** Rule sync: services added one at a time to 10,000 (each sync replaces a 10,000-service table). */
  addOneReps: number;
  /** DNS: seconds per dnsperf run and runs per server. */
  dnsSeconds: number;
  dnsRuns: number;
  /** Control-plane simulation. */
  simWorkers: number;
  simServices: number;
  simChanges: number;
  /** Footprint: services deployed, and the sampling window in seconds. */
  footprintServices: number;
  footprintWindowS: number;
  /** Footprint: strace window for counting spawned processes, seconds. */
  straceWindowS: number;
  /** Footprint: also count the idle cluster's spawned processes (full runs). */
  idleStrace: boolean;
  /** Rolling updates: repetitions of each variant (parallelism 0, 1, 2, 5). */
  updateReps: number;
  /** IPVS rule sync in the VM (full only). */
  ipvs: boolean;
}

export function benchConfig(quick: boolean): BenchConfig {
  return quick
    ? {
        quick,
        iperfSeconds: 1,
        iperfRuns: 3,
        wrkSeconds: 1,
        wrkRuns: 3,
        wrkConnections: 8,
        deployReps: 2,
        killReps: 3,
        scaleReps: 1,
        syncReps: 3,
        addOneReps: 1,
        dnsSeconds: 2,
        dnsRuns: 3,
        simWorkers: 200,
        simServices: 1000,
        simChanges: 5,
        footprintServices: 1000,
        footprintWindowS: 4,
        straceWindowS: 6,
        idleStrace: false,
        updateReps: 1,
        ipvs: false,
      }
    : {
        quick,
        iperfSeconds: 10,
        iperfRuns: 5,
        wrkSeconds: 5,
        wrkRuns: 5,
        wrkConnections: 8,
        deployReps: 20,
        killReps: 20,
        scaleReps: 20,
        syncReps: 10,
        addOneReps: 5,
        dnsSeconds: 10,
        dnsRuns: 5,
        simWorkers: 200,
        simServices: 1000,
        simChanges: 20,
        footprintServices: 1000,
        footprintWindowS: 60,
        straceWindowS: 20,
        idleStrace: true,
        updateReps: 2,
        ipvs: true,
      };
}

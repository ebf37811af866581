/** Undo steps recorded while allocating, run in reverse if the deploy fails before it commits. */
export class UndoLog {
  private readonly steps: Array<() => Promise<void>> = [];

  push(step: () => Promise<void>): void {
    this.steps.push(step);
  }

  async rollback(): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch {
        // Best effort: a leaked allocation is visible in the alloc bucket and reclaimed by rm.
      }
    }
    this.steps.length = 0;
  }
}

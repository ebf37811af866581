/** This meshctl, as argv: node with its loader flags and the script, to run it again. */
export function meshctlArgv(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1]!];
}

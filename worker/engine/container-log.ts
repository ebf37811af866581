/**
 * A container's output as podman's k8s-file log driver writes it (conmon), one record per line:
 * `<RFC 3339 time> <stdout|stderr> <F|P> <text>`; `P` marks a partial line continued by the next
 * record. `service logs` shows the text as a command task's output is shown: lines as written.
 */
const RECORD = /^\S+ (?:stdout|stderr) ([FP]) ?(.*)$/;

/** The output text of k8s-file records (a record that does not parse is kept as it is). */
export function textOfK8sFile(log: string): string {
  const out: string[] = [];
  let partial = '';
  const lines = log.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    const m = RECORD.exec(line);
    if (!m) {
      out.push(partial + line);
      partial = '';
    } else if (m[1] === 'P') partial += m[2];
    else {
      out.push(partial + m[2]);
      partial = '';
    }
  }
  if (partial) out.push(partial);
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Where a `%%workflow` cell names its steps: the lines a gutter click toggles a breakpoint on. */

/** A `%%workflow` cell's workflow name and, by 1-based line number, the step each `- id:` names. */
export interface IWorkflowCell {
  workflow: string;
  steps: Map<number, string>;
}

const HEADER = /^\s*%%workflow\s+([A-Za-z_][\w-]*)/;
const STEP_LINE = /^\s*-\s+id:\s*["']?([A-Za-z_][\w-]*)["']?\s*(#.*)?$/;

/** Read a cell's text as a `%%workflow` cell, or null when it is not one. */
export function readWorkflowCell(text: string): IWorkflowCell | null {
  const lines = text.split('\n');
  const first = lines.findIndex(line => line.trim() !== '');
  const header = first < 0 ? null : HEADER.exec(lines[first]);
  if (header === null) {
    return null;
  }
  const steps = new Map<number, string>();
  lines.forEach((line, n) => {
    const match = STEP_LINE.exec(line);
    if (match !== null) {
      steps.set(n + 1, match[1]);
    }
  });
  return { workflow: header[1], steps };
}

/**
 * "Did you mean" suggestions: the closest candidate by edit distance, when it
 * is close enough to be a plausible typo.
 * @module
 */

/** Damerau-Levenshtein (optimal string alignment) distance between two strings. */
export function editDistance(a: string, b: string): number {
  const m = a.length, n = b.length;
  if (m === 0) return n;
  if (n === 0) return m;
  let prev2: number[] = [];
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, prev2[j - 2]! + 1);
      }
      cur.push(d);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[n]!;
}

/** Words people write for ferry's keys (from other tools or habit), and the key they mean. */
const SYNONYMS: Readonly<Record<string, string>> = {
  cpus: "cores",
  cpu: "cores",
  threads: "cores",
  ncpus: "cores",
  mem: "memory",
  ram: "memory",
  time: "walltime",
  runtime: "walltime",
  timeout: "walltime",
  gpu: "gpus",
  retry: "retries",
  attempts: "retries",
  cmd: "command",
  argv: "command",
  run: "shell",
  depends_on: "after",
  needs: "after",
  deps: "after",
  requires: "after",
  input: "inputs",
  output: "outputs",
  foreach: "for_each",
  "for-each": "for_each",
  loop: "for_each",
  parameters: "params",
  variables: "params",
  vars: "params",
  environment: "env",
  resource: "resources",
  executors: "executor",
  queue: "partition",
};

/** The candidate closest to `word`, if it is a plausible typo of it. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  const list = [...candidates];
  const synonym = SYNONYMS[lower];
  if (synonym !== undefined && list.includes(synonym)) return synonym;
  candidates = list;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    if (c === word) continue;
    const d = c.toLowerCase() === lower ? 0.5 : editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  return best !== undefined && bestDistance <= limit ? best : undefined;
}

/** `: did you mean "x"?` when a close candidate exists, else the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? "" : `: did you mean "${c}"?`;
}

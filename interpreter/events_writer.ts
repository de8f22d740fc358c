/**
 * The one writer of a run's event log: each event becomes a JSON line with
 * its time, secrets redacted, appended as the run goes. Lines logged in the
 * same turn of the event loop are written together, so a re-run that finds
 * 10,000 tasks cached logs them in a few writes, not 10,000.
 * @module
 */

import { redactSecrets } from "../providers/_shared/secrets.ts";
import type { NewEvent } from "./events.ts";

const encoder = new TextEncoder();

/**
 * Appends events to one `events.jsonl`. A failed write (a full disk) does not
 * stop the run: the writer keeps the first error in {@linkcode error}, drops
 * what it holds and ignores later events.
 *
 * @example
 * ```ts
 * import { EventLogWriter } from "./events_writer.ts";
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * {
 *   using log = EventLogWriter.open(`${dir}/events.jsonl`);
 *   log.write({ event: "cached", task: "a" });
 * }
 * const line = JSON.parse(Deno.readTextFileSync(`${dir}/events.jsonl`));
 * assert.deepEqual({ ...line, time: 0 }, { time: 0, event: "cached", task: "a" });
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class EventLogWriter implements Disposable {
  readonly #file: Deno.FsFile;
  #pending: string[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #error: Error | undefined;

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /** Open (or create) the log at `path` for appending. */
  static open(path: string): EventLogWriter {
    return new EventLogWriter(Deno.openSync(path, { append: true, create: true }));
  }

  /** The first write that failed, if one did. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Log an event now (written at the end of this turn of the event loop). */
  write(e: NewEvent): void {
    // A transfer cancelled with the run may still report its end after the log closed.
    if (this.#closed || this.#error) return;
    this.#pending.push(redactSecrets(JSON.stringify({ time: Date.now(), ...e })) + "\n");
    this.#timer ??= setTimeout(() => this.flush(), 0);
  }

  /** Write what is pending now. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0 || this.#error) return;
    const bytes = encoder.encode(this.#pending.join(""));
    this.#pending = [];
    try {
      for (let n = 0; n < bytes.length;) n += this.#file.writeSync(bytes.subarray(n));
    } catch (e) {
      this.#error = e instanceof Error ? e : new Error(String(e));
    }
  }

  /** Write what is pending and close the file; later events are ignored. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#file.close();
  }

  /** The same as {@linkcode close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

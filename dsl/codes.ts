/**
 * Every diagnostic code ferry reports, with what it means. The README's
 * table and the invalid-fixture test are both checked against this list.
 * @module
 */

/** Diagnostic codes and a one-line explanation of each. */
export const DIAGNOSTIC_CODES: Readonly<Record<string, string>> = Object.freeze({
  // reading files
  "read-error":
    "the file cannot be read (missing, a directory, a FIFO or device, over 16 MiB, no permission)",
  "not-text": "the file is binary or not valid UTF-8",
  "unknown-format": "the file name does not end in .yaml, .yml or .toml",
  "empty-file": "the file is empty or holds no keys",
  "not-a-mapping": "the top level is a list or a scalar, not a mapping",
  "yaml-syntax": "the YAML does not parse",
  "toml-syntax": "the TOML does not parse",
  "duplicate-key": "a key appears twice in one mapping or table",
  "multiple-documents": "a YAML file holds more than one document",
  "alias-limit":
    "YAML aliases expand too much (an alias bomb), or an alias repeats a node it is in",
  // shape (schemas/*.schema.json)
  "unknown-key": "a key the schema does not know (with a did-you-mean)",
  "missing-key": "a required key is missing",
  "wrong-type": "a value has the wrong type",
  "invalid-value": "a value is outside what the schema allows",
  "invalid-name": "an app, param, file, input, output or executor name is not an identifier",
  // meaning
  "unsupported-version": "the `ferry:` or `ferry-site:` version is not 1",
  "literal-secret": "a password, token or key is written in the file instead of named by *_env",
  "missing-command": "an app has none of command, shell, function, script",
  "conflicting-command": "an app has more than one of command, shell, function, script",
  "expression-syntax": "a `${{ }}` expression does not parse",
  "unknown-name": "an expression names something that does not exist",
  "unknown-param": "an expression or a --param names a param that does not exist",
  "unknown-file": "an expression names a `files` entry that does not exist",
  "unknown-input": "an expression names an input the app does not have",
  "unknown-output": "an expression names an output the app does not have",
  "unknown-app": "an expression names an app that does not exist",
  "expression-scope": "an expression uses a name that is not available in that field",
  "unstaged-file": "a named file is used in a command without being an input (warning)",
  "undeclared-redirect":
    "stdout or stderr goes to a file that is not an output of the app (warning)",
  "quoted-substitution":
    "a `${{ }}` inside quotes in a shell script, where ferry's own quoting breaks it (warning)",
  "snakemake-placeholder":
    "a Snakemake `{input.x}`-style placeholder in a command, which ferry leaves as it is (warning)",
  "unused-input": "an input the command or script never mentions (warning)",
  "unused-param": "a param nothing uses (warning)",
  "unused-file": "a named file nothing uses (warning)",
  "unknown-after": "`after` names an app that does not exist",
  "unknown-executor": "an app or `defaults` names an executor that does not exist",
  "file-form": "a file in long form has not exactly one of path, url, glob, dir",
  "dynamic-input": "glob, dir or temp used on an input or a named file",
  "invalid-url": "a URL does not parse or lacks what its scheme needs",
  "output-outside-workspace": "an output leaves the workspace and no output root allows it",
  "reserved-output":
    "an output is, or holds, ferry's own .ferry/, the workflow file or the site file",
  "for-each-not-list": "for_each iterates over something that is neither a list nor a mapping",
  "duplicate-task-id": "two tasks of one app get the same id (from `id:` or their records)",
  "empty-fan-out": "for_each iterates over an empty list (warning)",
  "invalid-quantity": "a memory size or walltime does not parse",
  "missing-module": "a function app's module file does not exist",
  "missing-script": "a script app's file does not exist",
  "unused-permissions":
    "an app that runs no Deno process (a command, a shell or a non-Deno script) has permissions (warning)",
  "unknown-interpreter":
    "a script app's file has neither a known extension (.py, .R, .sh, .jl, .ts, ...) nor a #! line",
  "unknown-provider": "an executor's batch provider is neither built in nor a module path",
  "unknown-action": "a staging rule's action is neither built in nor a module path",
  "invalid-pattern": "a staging rule's match is not a valid URLPattern",
  "rewrite-target": "a rewrite rule has no `to`, or another action has one",
  "unknown-group": "a rewrite `to` names a group its pattern does not have",
  "missing-scratch": "a scratch rule on an executor without a scratch directory",
  "no-container-runtime": "an app names a `container` but its executor has no `container_runtime`",
  "container-function": "a function app names a `container` (functions run in ferry's Deno)",
  // the task graph
  "duplicate-output": "two tasks write the same file",
  "cycle": "apps or tasks wait for each other in a cycle",
  "missing-input": "an input neither exists nor is written by any app",
  "irregular-input": "an input is a FIFO, a device or a socket, not a file or directory",
  "no-staging-rule": "no staging rule of the task's executor claims a file (names the rules tried)",
  "resources-exceed":
    "a task's minimum cores or memory is more than its executor has (a range's min, or a single memory size)",
  "replica-catalog":
    "a replica catalog's entry or row is not a replica (a URL or path, and an optional site), or the catalog cannot be read",
  "unknown-logical-file":
    "a named file's `name` is not in its replica catalog (with a did-you-mean)",
  "no-replica":
    "no replica of a logical file can reach a task's executor (none is claimed by a staging rule or present)",
  "no-stage-out": "an output goes to a URL whose staging action can only fetch (http, https)",
  "endpoint-output":
    "a dir output whose URL is an executor's own storage (its endpoints) on a node without a shared filesystem, where only files are moved there",
  "node-dynamic-output":
    "a dir or glob output staged out to a remote URL from a node without a shared filesystem, where only files are sent",
  "unreachable-input": "a remote input did not answer a HEAD request (only with --check-inputs)",
  "assumed-input": "an absent input assumed present under --assume-inputs (warning)",
});

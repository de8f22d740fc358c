/**
 * npm:ssh2, the SSH and SFTP client, typed by npm:@types/ssh2 (see `README.md`
 * here). Its install script only builds an optional native crypto binding
 * (ssh2 falls back to node:crypto), so deno.json denies it (`allowScripts`).
 * @module
 */

// @ts-types="npm:@types/ssh2@1.15.6"
export { default } from "npm:ssh2@1.17.0";

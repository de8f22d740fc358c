/**
 * npm:@dagrejs/dagre, the graph layout of `ferry report` (see `README.md` here).
 * @module
 */

export { default } from "npm:@dagrejs/dagre@3.1.3";

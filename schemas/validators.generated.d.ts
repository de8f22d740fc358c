/** A precompiled schema check: true when the document has the schema's shape. */
export type Check = (data: unknown) => boolean;
/** The workflow schema (`workflow.schema.json`), compiled ahead of time. */
export declare const workflow: Check;
/** The site schema (`site.schema.json`), compiled ahead of time. */
export declare const site: Check;

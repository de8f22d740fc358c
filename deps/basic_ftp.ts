/**
 * npm:basic-ftp, the FTP and FTPS client (see `README.md` here).
 * @module
 */

export * from "npm:basic-ftp@6.2.3";

/**
 * `[env]` and secret names: what a shell accepts as a variable name, upper case. Its own file so
 * that the secret store, which the gateway loads at start, does without the manifest's parser.
 */
export const VARIABLE_NAME = /^[A-Z_][A-Z0-9_]{0,63}$/;

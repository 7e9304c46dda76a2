/**
 * Every error rust-less raises on purpose carries a stable `code`. Callers branch on the code,
 * never on message text; the HTTP edges map codes to a status and the JSON error shape
 * `{"error":{"code":"...","message":"..."}}`.
 */
export const ERROR_STATUS = {
  RUSTLESS_NOT_FOUND: 404,
  RUSTLESS_METHOD_NOT_ALLOWED: 405,
  RUSTLESS_UNSUPPORTED_MEDIA_TYPE: 415,
  RUSTLESS_INVALID_JSON: 400,
  RUSTLESS_BAD_REQUEST: 400,
  RUSTLESS_BODY_NOT_ALLOWED: 400,
  RUSTLESS_PAYLOAD_TOO_LARGE: 413,
  RUSTLESS_TIMEOUT: 504,
  RUSTLESS_RUNNER_FAILED: 502,
  RUSTLESS_RUNNER_DIED: 502,
  RUSTLESS_UNAVAILABLE: 503,
  RUSTLESS_UNAUTHORIZED: 401,
  RUSTLESS_APP_NOT_FOUND: 404,
  RUSTLESS_BUILD_NOT_FOUND: 404,
  RUSTLESS_ROUTE_CONFLICT: 409,
  RUSTLESS_DATA_CHOICE_NEEDED: 409,
  /** The build cannot become an image for a cluster (a local backend's dynamically linked runner). */
  RUSTLESS_NOT_EXPORTABLE: 409,
  RUSTLESS_SECRET_NOT_FOUND: 404,
  RUSTLESS_INVALID_MANIFEST: 422,
  RUSTLESS_INVALID_UPLOAD: 400,
  RUSTLESS_UPLOAD_TOO_LARGE: 413,
  RUSTLESS_BUILD_FAILED: 422,
  RUSTLESS_BACKEND_FAILED: 500,
  /** A full disk: what could not be written and where (507 Insufficient Storage). */
  RUSTLESS_NO_SPACE: 507,
  /** The registry file fails SQLite's integrity check; the message says how to recover. */
  RUSTLESS_REGISTRY_CORRUPT: 500,
  RUSTLESS_HOST_NOT_FOUND: 500,
  /** A streamed answer (followed logs, build events) broke off: the gateway or the ssh carrying it went away. */
  RUSTLESS_CONNECTION_LOST: 502,
  RUSTLESS_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface RustlessErrorOptions {
  cause?: unknown;
  /** Extra machine-readable facts, sent along in the JSON error body. */
  details?: Record<string, unknown>;
  /** Extra response headers at the HTTP edge (for example `allow` on a 405). */
  headers?: Record<string, string>;
}

export class RustlessError extends Error {
  override readonly name = 'RustlessError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, options: RustlessErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.headers = options.headers;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toJSON(): ErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; [key: string]: unknown };
}

export function errorBody(code: string, message: string, details?: Record<string, unknown>): ErrorBody {
  return { error: { ...details, code, message } };
}

export function isRustlessError(error: unknown, code?: ErrorCode): error is RustlessError {
  return error instanceof RustlessError && (code === undefined || error.code === code);
}

/** Wraps anything thrown into a RustlessError, keeping the original as `cause`. */
export function toRustlessError(error: unknown): RustlessError {
  if (error instanceof RustlessError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RustlessError('RUSTLESS_INTERNAL', message, { cause: error });
}

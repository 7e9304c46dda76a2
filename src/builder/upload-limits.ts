/**
 * How big an uploaded crate may be. Its own file because the admin API reads the limit on every
 * upload, and the extraction code (unpack.ts) is loaded only when a build starts.
 */
export interface UploadLimits {
  /** Size of the `.tar.gz` itself. */
  maxCompressedBytes: number;
  /** Sum of the sizes of all files. */
  maxTotalBytes: number;
  /** Entries (files and directories). */
  maxFiles: number;
  /** Size of any one file. */
  maxFileBytes: number;
  /** Length of an entry's path inside the archive. */
  maxPathLength: number;
}

/** The admin API takes uploads up to `maxCompressedBytes` too (docs/admin-api.md): one number. */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  maxCompressedBytes: 32 * 1024 * 1024,
  maxTotalBytes: 64 * 1024 * 1024,
  maxFiles: 5000,
  maxFileBytes: 16 * 1024 * 1024,
  maxPathLength: 512,
};

/** The errors the Delta library throws; callers branch on the class, never on the message. */

/** Another writer took the version this commit wanted (put-if-absent found the log file taken). */
export class DeltaCommitConflictError extends Error {
  override name = 'DeltaCommitConflictError';
  constructor(
    readonly root: string,
    readonly version: number,
  ) {
    super(`Delta commit conflict: version ${version} of ${root} was already written by another writer`);
  }
}

/**
 * Another writer moved a `txn` (an application's checkpoint) this writer's commit expected, or kept
 * winning the version race: nothing was committed; the caller's retry re-plans from the table.
 */
export class ConcurrentWriterError extends Error {
  override name = 'ConcurrentWriterError';
}

export class UnsupportedDeltaFeatureError extends Error {
  override name = 'UnsupportedDeltaFeatureError';
}

/** The location holds no Delta log (or an empty one). */
export class DeltaTableNotFoundError extends Error {
  override name = 'DeltaTableNotFoundError';
}

/** The log is inconsistent (gaps, unparsable lines, missing protocol/metaData, …). */
export class DeltaLogCorruptError extends Error {
  override name = 'DeltaLogCorruptError';
}

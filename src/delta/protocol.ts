/**
 * Protocol and table-feature checks: which tables tributary may read, and which commits it may
 * write to them. Refused loudly rather than half-honoured:
 *  - protocol reader 1 / writer 2 (or reader 3 / writer 7 with only the harmless features listed
 *    in KNOWN_*_FEATURES); no deletion vectors, column mapping, CHECK constraints, CDF, generated
 *    or identity columns, v2 / multi-part checkpoints, partitioned writes;
 *  - column types: see schema.ts.
 */
import type { Action, DeltaProtocol } from './actions';
import { UnsupportedDeltaFeatureError } from './errors';
import type { TableMetadata } from './schema';

/** What the checks need of a snapshot (the root only names the table in messages). */
export interface ProtocolState {
  root: string;
  protocol: DeltaProtocol;
  metadata: Pick<TableMetadata, 'configuration' | 'partitionColumns' | 'format'>;
}

/**
 * Reader features we can honour. `vacuumProtocolCheck` only asks vacuum to check the protocol,
 * which our snapshot reader always does.
 */
const KNOWN_READER_FEATURES: ReadonlySet<string> = new Set(['vacuumProtocolCheck']);
/**
 * Writer features we honour: `appendOnly` (we refuse data-changing removes when
 * delta.appendOnly=true), `invariants` (we refuse to write if any column declares one, see
 * parseSchemaString), `vacuumProtocolCheck`.
 */
const KNOWN_WRITER_FEATURES: ReadonlySet<string> = new Set(['appendOnly', 'invariants', 'vacuumProtocolCheck']);

export function assertReadable(root: string, protocol: DeltaProtocol, metadata: Pick<TableMetadata, 'configuration' | 'format'>): void {
  const r = protocol.minReaderVersion;
  if (r === 2 || r > 3) {
    // Reader 2 = column mapping; >3 does not exist yet.
    throw new UnsupportedDeltaFeatureError(`${root}: minReaderVersion ${r} is not supported (column mapping / unknown reader protocol)`);
  }
  if (r === 3) {
    const unknown = (protocol.readerFeatures ?? []).filter((f) => !KNOWN_READER_FEATURES.has(f));
    if (unknown.length > 0) {
      throw new UnsupportedDeltaFeatureError(`${root}: unsupported Delta reader features: ${unknown.join(', ')}`);
    }
  }
  const mode = metadata.configuration['delta.columnMapping.mode'];
  if (mode !== undefined && mode !== 'none') {
    throw new UnsupportedDeltaFeatureError(`${root}: column mapping mode ${mode} is not supported`);
  }
  if (metadata.format.provider !== 'parquet') {
    throw new UnsupportedDeltaFeatureError(`${root}: data format ${metadata.format.provider} is not supported`);
  }
}

/**
 * Throws unless tributary may write `actions` to a table in this state. The transaction calls it
 * with the snapshot the actions go on top of.
 */
export function assertWritable(snap: ProtocolState, actions: readonly Action[] = []): void {
  const { protocol, metadata, root } = snap;
  const w = protocol.minWriterVersion;
  if (w >= 3 && w <= 6) {
    throw new UnsupportedDeltaFeatureError(
      `${root}: minWriterVersion ${w} requires CHECK constraints / change data feed / generated, identity or mapped columns, which tributary does not implement`,
    );
  }
  if (w > 7) throw new UnsupportedDeltaFeatureError(`${root}: minWriterVersion ${w} is unknown`);
  if (w === 7) {
    const unknown = (protocol.writerFeatures ?? []).filter((f) => !KNOWN_WRITER_FEATURES.has(f));
    if (unknown.length > 0) throw new UnsupportedDeltaFeatureError(`${root}: unsupported Delta writer features: ${unknown.join(', ')}`);
  }
  if (metadata.partitionColumns.length > 0) {
    throw new UnsupportedDeltaFeatureError(`${root}: partitioned tables are not supported for writing (partitionColumns ${metadata.partitionColumns.join(', ')})`);
  }
  if (metadata.configuration['delta.appendOnly'] === 'true') {
    for (const a of actions) {
      if ('remove' in a && a.remove.dataChange !== false) {
        throw new UnsupportedDeltaFeatureError(`${root}: delta.appendOnly=true forbids removing data (remove ${a.remove.path})`);
      }
    }
  }
}

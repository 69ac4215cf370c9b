/**
 * Custom search attributes the stack registers (`temporal server start-dev --search-attribute`)
 * and every stage run upserts, so runs can be filtered in the Temporal UI, e.g.
 * `PipelineStage = "raw" AND RecordsIn > 0`.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const PipelineStage = defineSearchAttributeKey('PipelineStage', SearchAttributeType.KEYWORD);
export const RecordsIn = defineSearchAttributeKey('RecordsIn', SearchAttributeType.INT);
export const RecordsOut = defineSearchAttributeKey('RecordsOut', SearchAttributeType.INT);
export const DeadLetters = defineSearchAttributeKey('DeadLetters', SearchAttributeType.INT);
// DOUBLE, not INT: the dev server's SQLite visibility store allows only three custom Int attributes.
export const TableVersion = defineSearchAttributeKey('TableVersion', SearchAttributeType.DOUBLE);

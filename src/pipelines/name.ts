/**
 * A pipeline's name, as the definition file and every workflow input spell it. Deterministic (zod
 * only): the workflow bundle imports it.
 */
import { z } from 'zod';
import { SENSOR_PIPELINE_NAME } from '../lake/pipeline-name';

/** Five-field cron (minute hour day month weekday) made of the usual characters: the file's schedules and SCHEDULE_*_CRON. */
export const CRON_EXPRESSION = z.string().trim().regex(/^(\S+\s+){4}\S+$/, 'expected a 5-field cron expression').regex(/^[0-9*/,\-\sA-Za-z?LW#]+$/, 'unexpected characters in cron expression');

export const PipelineName = z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, 'lower-case letters, digits, _ and -, starting with a letter (≤ 40)');

/** The pipeline every input defaults to: the seed's, so every documented command keeps working. */
export const DEFAULT_PIPELINE = SENSOR_PIPELINE_NAME;

/** A pipeline's maintenance schedule id: `sensor-maintain-tables` (its id since the start), `<pipeline>-maintain-tables`. */
export const maintenanceScheduleId = (pipeline: string): string => `${pipeline}-maintain-tables`;

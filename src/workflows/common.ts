import { ApplicationFailure } from '@temporalio/workflow';
import { InvalidInputError } from './inputs';

/**
 * Error types (the `name` of errors thrown by activities) that no retry can fix: bad
 * credentials, a missing topic, lost data with failOnDataLoss, bad config, a wrong extension.
 */
export const NON_RETRYABLE_ERROR_TYPES = [
  'PermanentKafkaError',
  'DataLossError',
  'ConfigError',
  'LakeSetupError',
  'StartingOffsetsError',
  'UnsupportedDeltaFeatureError',
  'InvalidInputError',
];

/** Runs input validation; a bad input fails the workflow at once instead of retrying its task. */
export function validated<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof InvalidInputError) throw ApplicationFailure.nonRetryable(e.message, 'InvalidInputError');
    throw e;
  }
}

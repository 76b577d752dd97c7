/**
 * Entry point of the upload function (bundled by the CDK stack): the S3 store and its settings,
 * made once per cold start from the environment the stack sets.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { S3Store, createS3Client } from '../stores/s3.js';
import { uploadSettingsFrom } from './settings.js';
import { createUploadHandler } from './upload-handler.js';

const settings = uploadSettingsFrom(process.env);

export const handler = createUploadHandler({
  // AWS S3 honours If-None-Match, so there is no start-up probe; the timeout leaves an answer
  // (503) inside API Gateway's 30 s.
  store: new S3Store({ client: createS3Client({ requestTimeoutMs: 20_000 }), bucket: settings.bucket, conditionalWrites: 'yes' }),
  keyTemplate: settings.keyTemplate,
  maxBytes: settings.maxBytes,
  logger: new Logger(),
  metrics: new Metrics(),
});

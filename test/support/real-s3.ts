/**
 * The real S3 server a test run may have beside s3rver: the one `scripts/ceph-rgw.sh start` writes
 * an env file for (`. DIR/env` exports S3_TEST_*), as CI does.
 *
 * @module
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/stores/s3.js';

export interface RealS3 {
  /** e.g. `ceph-rgw` (S3_TEST_SERVER). */
  name: string;
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/** The server S3_TEST_ENDPOINT, S3_TEST_ACCESS_KEY_ID and S3_TEST_SECRET_ACCESS_KEY name; undefined without them. */
export function realS3FromEnv(env: NodeJS.ProcessEnv = process.env): RealS3 | undefined {
  const { S3_TEST_ENDPOINT: endpoint, S3_TEST_ACCESS_KEY_ID: accessKeyId, S3_TEST_SECRET_ACCESS_KEY: secretAccessKey } = env;
  if (!endpoint || !accessKeyId || !secretAccessKey) return undefined;
  return { name: env.S3_TEST_SERVER || 'S3', endpoint, region: env.S3_TEST_REGION || 'us-east-1', credentials: { accessKeyId, secretAccessKey } };
}

/** A new, empty bucket on `server`, named `<prefix>-<time>` so that runs do not meet. */
export async function createTestBucket(server: RealS3, prefix: string): Promise<string> {
  const bucket = `${prefix}-${Date.now()}`;
  const client = createS3Client(server);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}

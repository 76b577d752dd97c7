/** Parses `s3://bucket[/prefix]` (apart from the store, so that naming a location loads no SDK). */
export function parseS3Location(location: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(location);
  if (!match) throw new Error(`"${location}" is not an S3 location; expected s3://bucket or s3://bucket/prefix`);
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: match[1]!, prefix: prefix === '' ? '' : `${prefix}/` };
}

/**
 * Where an S3 store's requests go and where their credentials come from, as the AWS SDK will find
 * them in this environment: for the banner, and for an error that must say what to check.
 */
export function describeS3Connection(env: NodeJS.ProcessEnv = process.env): string {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const where = endpoint ? `endpoint ${endpoint}` : `AWS S3${region ? ` in ${region}` : ''}`;
  let credentials: string;
  if (env.AWS_ACCESS_KEY_ID) credentials = 'credentials from AWS_ACCESS_KEY_ID';
  else if (env.AWS_PROFILE) credentials = `credentials from the profile "${env.AWS_PROFILE}" (AWS_PROFILE)`;
  else if (env.AWS_WEB_IDENTITY_TOKEN_FILE) credentials = 'credentials from a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)';
  else credentials = "credentials from the AWS SDK's default chain (the default profile in ~/.aws, or this machine's instance or container role)";
  return `${where}, ${credentials}`;
}

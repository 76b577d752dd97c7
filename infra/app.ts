/**
 * The CDK app: `npm run synth` (offline, no AWS credentials), `npm run deploy`, `npm run destroy`.
 * Settings come from CDK context (see config.ts and the README); every AwsSolutions cdk-nag
 * finding fails the synth unless a reviewed suppression in the stack explains it.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stackConfigFrom } from './config.js';
import { ImagesToS3Stack } from './stack.js';

const app = new App();
const config = stackConfigFrom((key) => app.node.tryGetContext(key));
new ImagesToS3Stack(app, 'ImagesToS3', {
  config,
  description: 'images-to-s3: receives images from network cameras (Axis "Send images through HTTPS") and stores them in S3',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();

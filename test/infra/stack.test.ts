import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnLogGroup } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PROJECT_ROOT } from '../../infra/bundling.js';
import { DEFAULT_CONFIG, StackConfigError, stackConfigFrom } from '../../infra/config.js';
import type { StackConfig } from '../../infra/config.js';
import { ImagesToS3Stack } from '../../infra/stack.js';
import { LAMBDA_MAX_IMAGE_BYTES } from '../../src/lambda/settings.js';

type Json = Record<string, unknown>;

/** cdk.json's context (its feature flags above all), as `cdk synth` and `cdk deploy` give it to the app. */
const CDK_CONTEXT = (JSON.parse(readFileSync(fileURLToPath(new URL('../../cdk.json', import.meta.url)), 'utf8')) as { context: Record<string, unknown> }).context;

function synth(config: Partial<StackConfig> = {}): { stack: ImagesToS3Stack; template: Template } {
  const app = new App({ context: CDK_CONTEXT });
  const stack = new ImagesToS3Stack(app, 'ImagesToS3', { config: { ...DEFAULT_CONFIG, ...config } });
  return { stack, template: Template.fromStack(stack) };
}

const only = (template: Template, type: string): Json => {
  const resources = Object.values(template.findResources(type));
  assert.equal(resources.length, 1, `one ${type}`);
  return resources[0] as Json;
};

const logicalId = (template: Template, type: string, props: Json = {}): string => {
  const ids = Object.keys(template.findResources(type, { Properties: Match.objectLike(props) }));
  assert.equal(ids.length, 1, `one ${type} like ${JSON.stringify(props)}`);
  return ids[0]!;
};

/** The log group a function writes to, by its Powertools service name. */
function functionLogGroup(template: Template, serviceName: string): string {
  const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: serviceName }) } } }))[0] as { Properties: { LoggingConfig: { LogGroup: { Ref: string } } } };
  return fn.Properties.LoggingConfig.LogGroup.Ref;
}

/** The reviewed cdk-nag acknowledgments: adding one is a change a reviewer sees here. */
const ACKNOWLEDGED = [
  'AwsSolutions-APIG4 on Api/ANY--',
  'AwsSolutions-APIG4 on Api/GET--',
  'AwsSolutions-APIG4 on Api/HEAD--',
  'AwsSolutions-IAM5[Resource::<Images2D38C313.Arn>/*] on UploadRole',
  'AwsSolutions-S1 on Images',
  'AwsSolutions-SMG4 on TokenSecret',
];

/** The cdk-nag acknowledgments in the stack, as `<rule> on <construct path>`. */
function acknowledgedIn(stack: ImagesToS3Stack): string[] {
  const acknowledged: string[] = [];
  for (const construct of stack.node.findAll()) {
    for (const entry of construct.node.metadata.filter((item) => item.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)) {
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        assert.ok(reason.length >= 150, `the reason for ${id} is too short to convince a reviewer`);
        acknowledged.push(`${id.replace(/^Annotation::/, '')} on ${construct.node.path.replace(/^ImagesToS3\//, '')}`);
      }
    }
  }
  return acknowledged.sort();
}

/** A policy document CloudFormation joins from strings and references, with each reference as `<logicalId.Attribute>` or `<logicalId>`. */
function joinedJson(value: unknown): Json {
  const [separator, parts] = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  const text = parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const { Ref: ref, 'Fn::GetAtt': getAtt } = part as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
      return `<${ref ?? getAtt!.join('.')}>`;
    })
    .join(separator);
  return JSON.parse(text) as Json;
}

describe('cdk.json', () => {
  it('sets every feature flag aws-cdk-lib recommends, so synth has none to warn about and tests see what deploys', () => {
    const recommended = JSON.parse(readFileSync(fileURLToPath(import.meta.resolve('aws-cdk-lib/recommended-feature-flags.json')), 'utf8')) as Record<string, unknown>;
    const missing = Object.keys(recommended).filter((flag) => !(flag in CDK_CONTEXT));
    assert.deepEqual(missing, [], 'an aws-cdk-lib upgrade recommends new feature flags: review them and add them to cdk.json');
  });
});

describe('the CDK stack (synthesized, with the real esbuild bundling)', () => {
  let stack: ImagesToS3Stack;
  let template: Template;
  before(() => {
    ({ stack, template } = synth());
  });

  it('has an HTTP API with GET, HEAD and ANY / open and POST / behind the authorizer, all to the upload function', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((route) => (route as { Properties: Json }).Properties);
    const authorizerId = logicalId(template, 'AWS::ApiGatewayV2::Authorizer');
    assert.deepEqual(
      routes.map((route) => [route.RouteKey, route.AuthorizationType, route.AuthorizerId]).sort(),
      [
        ['ANY /', 'NONE', undefined],
        ['GET /', 'NONE', undefined],
        ['HEAD /', 'NONE', undefined],
        ['POST /', 'CUSTOM', { Ref: authorizerId }],
      ],
    );
    const uploadFunction = logicalId(template, 'AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ IMAGES_BUCKET: Match.anyValue() }) } });
    template.resourceCountIs('AWS::ApiGatewayV2::Integration', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [uploadFunction, 'Arn'] },
    });
  });

  it('has a REQUEST authorizer with simple responses on the accessToken query parameter, cached 300 s', () => {
    const authorizerFunction = logicalId(template, 'AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ TOKEN_SECRET_ID: Match.anyValue() }) } });
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      AuthorizerPayloadFormatVersion: '2.0',
      EnableSimpleResponses: true,
      IdentitySource: ['$request.querystring.accessToken'],
      AuthorizerResultTtlInSeconds: 300,
      AuthorizerUri: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([{ 'Fn::GetAtt': [authorizerFunction, 'Arn'] }])]) }),
    });
  });

  it('has a $default stage that deploys itself, is throttled and access-logs without the query string', () => {
    const stage = only(template, 'AWS::ApiGatewayV2::Stage') as { Properties: Json };
    assert.equal(stage.Properties.StageName, '$default');
    assert.equal(stage.Properties.AutoDeploy, true);
    assert.deepEqual(stage.Properties.DefaultRouteSettings, { ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 });
    const logs = stage.Properties.AccessLogSettings as { DestinationArn: unknown; Format: string };
    const functionLogGroups = ['images-to-s3-upload', 'images-to-s3-authorizer'].map((name) => functionLogGroup(template, name));
    const accessLogGroup = Object.keys(template.findResources('AWS::Logs::LogGroup')).filter((id) => !functionLogGroups.includes(id));
    assert.equal(accessLogGroup.length, 1);
    assert.deepEqual(logs.DestinationArn, { 'Fn::GetAtt': [accessLogGroup[0], 'Arn'] });
    const format = JSON.parse(logs.Format) as Record<string, string>;
    assert.equal(format.path, '$context.path');
    assert.equal(format.camera, '$context.authorizer.camera');
    assert.doesNotMatch(logs.Format, /querystring|requestUri|identity\.(?!sourceIp)/i);
  });

  it('generates the secret in the seed\'s shape: JSON with an alphanumeric accessToken (and an empty per-camera token list)', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: {
        SecretStringTemplate: '{"version":1,"tokens":[]}',
        GenerateStringKey: 'accessToken',
        ExcludePunctuation: true,
        IncludeSpace: false,
        PasswordLength: 32,
      },
    });
  });

  it('bundles both functions for Node.js 22 on arm64, small, each with its own log group, role and settings', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function')).map((fn) => (fn as { Properties: Json }).Properties);
    assert.equal(functions.length, 2);
    for (const fn of functions) {
      assert.equal(fn.Runtime, 'nodejs24.x');
      assert.deepEqual(fn.Architectures, ['arm64']);
      assert.equal(fn.Handler, 'index.handler');
      assert.equal(fn.MemorySize, 256);
      assert.ok((fn.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref);
    }
    const upload = functions.find((fn) => (fn.Environment as { Variables: Json }).Variables.IMAGES_BUCKET)!;
    assert.deepEqual((upload.Environment as { Variables: Json }).Variables, {
      IMAGES_BUCKET: { Ref: logicalId(template, 'AWS::S3::Bucket') },
      IMAGES_KEY_TEMPLATE: '{camera}/{yyyy}/{MM}/{dd}/{filename}',
      IMAGES_MAX_BYTES: String(LAMBDA_MAX_IMAGE_BYTES),
      POWERTOOLS_SERVICE_NAME: 'images-to-s3-upload',
      POWERTOOLS_METRICS_NAMESPACE: 'images-to-s3',
    });
    assert.equal(upload.Timeout, 29);
    const authorizer = functions.find((fn) => fn !== upload)!;
    assert.equal(authorizer.Timeout, 10);
    assert.deepEqual((authorizer.Environment as { Variables: Json }).Variables, {
      TOKEN_SECRET_ID: { Ref: logicalId(template, 'AWS::SecretsManager::Secret') },
      SHARED_TOKEN_CAMERA: 'camera',
      TOKEN_CACHE_SECONDS: '60',
      POWERTOOLS_SERVICE_NAME: 'images-to-s3-authorizer',
    });
    const logGroups = Object.values(template.findResources('AWS::Logs::LogGroup')).map((group) => (group as { Properties: Json }).Properties);
    assert.equal(logGroups.length, 3);
    assert.ok(logGroups.every((group) => group.RetentionInDays === 30));
    for (const fn of functions) assert.match(JSON.stringify(fn.Code), /S3Key.*\.zip/, 'code from a bundled asset');
  });

  it('keeps the images in a private, encrypted, TLS-only bucket that outlives the stack', () => {
    const bucket = only(template, 'AWS::S3::Bucket') as { Properties: Json; DeletionPolicy: string; UpdateReplacePolicy: string };
    assert.equal(bucket.DeletionPolicy, 'Retain');
    assert.equal(bucket.UpdateReplacePolicy, 'Retain');
    assert.deepEqual(bucket.Properties.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    assert.deepEqual(bucket.Properties.BucketEncryption, { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    assert.deepEqual(bucket.Properties.OwnershipControls, { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    assert.deepEqual(bucket.Properties.LifecycleConfiguration, { Rules: [{ Id: 'images', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }] });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    const policy = only(template, 'AWS::S3::BucketPolicy') as { Properties: { PolicyDocument: { Statement: Json[] } } };
    const denies = policy.Properties.PolicyDocument.Statement.filter((statement) => statement.Effect === 'Deny').map((statement) => statement.Condition);
    assert.deepEqual(denies, [{ Bool: { 'aws:SecureTransport': 'false' } }, { NumericLessThan: { 's3:TlsVersion': 1.2 } }]);
  });

  it('sends nothing to EventBridge unless asked: no bucket notification, rule, log resource policy or custom resource', () => {
    const bucket = only(template, 'AWS::S3::Bucket') as { Properties: Json };
    assert.equal(bucket.Properties.NotificationConfiguration, undefined);
    for (const type of ['AWS::Events::Rule', 'AWS::Logs::ResourcePolicy', 'Custom::S3BucketNotifications']) template.resourceCountIs(type, 0);
    assert.equal(stack.imageEvents, undefined);
  });

  it('gives each function exactly what it needs: upload may only PutObject in the bucket, the authorizer only read its secret', () => {
    const bucket = logicalId(template, 'AWS::S3::Bucket');
    const secret = logicalId(template, 'AWS::SecretsManager::Secret');
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).map((policy) => (policy as { Properties: { PolicyDocument: { Statement: Json[] }; Roles: Array<{ Ref: string }> } }).Properties);
    assert.equal(policies.length, 2);
    const statementsOf = (role: string) => policies.find((policy) => policy.Roles[0]!.Ref === role)!.PolicyDocument.Statement;
    const uploadRole = logicalId(template, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp('^The upload function') });
    const authorizerRole = logicalId(template, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp('^The authorizer function') });
    const logGroupOf = (name: string) => ({ 'Fn::GetAtt': [functionLogGroup(template, name), 'Arn'] });
    assert.deepEqual(statementsOf(uploadRole), [
      { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: logGroupOf('images-to-s3-upload') },
      { Action: 's3:PutObject', Effect: 'Allow', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/*']] } },
    ]);
    assert.deepEqual(statementsOf(authorizerRole), [
      { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: logGroupOf('images-to-s3-authorizer') },
      { Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: { Ref: secret } },
    ]);
    for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
      const properties = (role as { Properties: Json }).Properties;
      assert.equal(properties.ManagedPolicyArns, undefined, 'no managed policies (AWSLambdaBasicExecutionRole may write to every log group)');
      assert.deepEqual(properties.AssumeRolePolicyDocument, { Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }], Version: '2012-10-17' });
    }
  });

  it('has a managed policy for token administrators: read the secret, write a version and move AWSCURRENT, on this secret only', () => {
    const secret = logicalId(template, 'AWS::SecretsManager::Secret');
    const policy = only(template, 'AWS::IAM::ManagedPolicy') as { Properties: Json };
    assert.deepEqual(policy.Properties.PolicyDocument, {
      Statement: [{ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'], Effect: 'Allow', Resource: { Ref: secret } }],
      Version: '2012-10-17',
    });
    assert.match(String(policy.Properties.Description), /camera tokens of images-to-s3/);
    for (const attachment of ['Users', 'Groups', 'Roles']) assert.equal(policy.Properties[attachment], undefined, `attached by the user, not by the stack (${attachment})`);
    const policyId = logicalId(template, 'AWS::IAM::ManagedPolicy');
    assert.deepEqual((template.toJSON().Outputs as Record<string, { Value: unknown }>).TokenAdministratorPolicyArn!.Value, { Ref: policyId });
  });

  it('outputs the seed\'s Recipient, ApiAccessToken and Bucket (plus ARN and name for the CLI, and the token policy), and tags everything application', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    assert.deepEqual(Object.keys(outputs).sort(), ['ApiAccessToken', 'ApiAccessTokenSecretArn', 'Bucket', 'BucketName', 'Recipient', 'TokenAdministratorPolicyArn']);
    const text = (value: unknown): string => JSON.stringify(value);
    assert.match(text(outputs.Recipient!.Value), /execute-api/);
    assert.match(text(outputs.ApiAccessToken!.Value), /console\.aws\.amazon\.com\/secretsmanager\/secret\?name=/);
    assert.match(text(outputs.Bucket!.Value), /s3\.console\.aws\.amazon\.com\/s3\/buckets\//);
    for (const type of ['AWS::S3::Bucket', 'AWS::SecretsManager::Secret', 'AWS::Lambda::Function', 'AWS::IAM::Role', 'AWS::Logs::LogGroup']) {
      for (const resource of Object.values(template.findResources(type))) {
        assert.deepEqual(((resource as { Properties: { Tags: Json[] } }).Properties.Tags ?? []).filter((tag) => tag.Key === 'application'), [{ Key: 'application', Value: 'images-to-s3' }], type);
      }
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { Tags: { application: 'images-to-s3' } });
  });

  it('passes every cdk-nag AwsSolutions check, with only the reviewed acknowledgments, each of them needed and explained', () => {
    assert.deepEqual(new AwsSolutionsChecks().validateScope(stack).violations, []);
    assert.deepEqual(acknowledgedIn(stack), ACKNOWLEDGED);

    // Without the acknowledgments the same checks find exactly those findings: none is idle.
    const blind = new AwsSolutionsChecks();
    (blind as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
    const findings = blind.validateScope(stack).violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => `${violation.ruleName} on ${resource.constructPath?.replace(/^ImagesToS3\//, '') ?? resource.resourceLogicalId}`),
    );
    for (const expected of ACKNOWLEDGED) {
      const [rule, where] = expected.split(' on ');
      assert.ok(findings.some((finding) => finding.startsWith(`${rule} on ${where}`)), `${expected} is acknowledged but not found: ${findings.join('; ')}`);
    }
  });
});

describe('the CDK stack with -c eventBridge=true', () => {
  let stack: ImagesToS3Stack;
  let template: Template;
  let bucketId: string;
  let logGroupId: string;
  let ruleId: string;
  before(() => {
    ({ stack, template } = synth(stackConfigFrom((key) => (key === 'eventBridge' ? 'true' : undefined))));
    bucketId = logicalId(template, 'AWS::S3::Bucket');
    logGroupId = stack.getLogicalId(stack.imageEvents!.logGroup.node.defaultChild as CfnLogGroup);
    ruleId = logicalId(template, 'AWS::Events::Rule');
  });

  it('turns on the bucket\'s EventBridge notifications in CloudFormation itself, without the custom resource and its Lambda function', () => {
    const bucket = only(template, 'AWS::S3::Bucket') as { Properties: Json };
    assert.deepEqual(bucket.Properties.NotificationConfiguration, { EventBridgeConfiguration: { EventBridgeEnabled: true } });
    template.resourceCountIs('Custom::S3BucketNotifications', 0);
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.resourceCountIs('AWS::IAM::Role', 2);
    template.resourceCountIs('AWS::IAM::Policy', 2);
  });

  it('has an example rule for the bucket\'s "Object Created" events, logging the whole event to its own log group', () => {
    const rule = only(template, 'AWS::Events::Rule') as { Properties: Json; DependsOn: string[] };
    assert.deepEqual(rule.Properties.EventPattern, { source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: [{ Ref: bucketId }] } } });
    assert.equal(rule.Properties.State, 'ENABLED');
    assert.equal(rule.Properties.EventBusName, undefined, 'the default event bus, where S3 sends its events');
    assert.deepEqual(rule.Properties.Targets, [
      {
        Id: 'Target0',
        // A log group target's ARN is the log group's without ":*"; no role, no input transformation.
        Arn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':log-group:', { Ref: logGroupId }]] },
      },
    ]);
    assert.ok(rule.DependsOn.includes(logicalId(template, 'AWS::Logs::ResourcePolicy')), 'the rule waits for the log resource policy');
    assert.deepEqual(((rule.Properties.Tags ?? []) as Json[]).filter((tag) => tag.Key === 'application'), [{ Key: 'application', Value: 'images-to-s3' }]);

    const logGroups = template.findResources('AWS::Logs::LogGroup');
    assert.equal(Object.keys(logGroups).length, 4);
    const logGroup = logGroups[logGroupId] as { Properties: Json; DeletionPolicy: string };
    assert.equal(logGroup.Properties.RetentionInDays, 30);
    assert.equal(logGroup.DeletionPolicy, 'Delete');
    assert.equal(stack.imageEvents?.logGroup.node.path, 'ImagesToS3/ImageEventLogs');
  });

  it('lets EventBridge (and nothing else) create streams and put events in that log group only, by a resource policy named after the stack', () => {
    const policy = only(template, 'AWS::Logs::ResourcePolicy') as { Properties: { PolicyName: string; PolicyDocument: unknown } };
    assert.equal(policy.Properties.PolicyName, 'images-to-s3-image-events');
    assert.deepEqual(joinedJson(policy.Properties.PolicyDocument), {
      Statement: [{ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Resource: `<${logGroupId}.Arn>` }],
      Version: '2012-10-17',
    });
  });

  it('outputs the rule\'s name and the log group', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    assert.deepEqual(Object.keys(outputs).sort(), ['ApiAccessToken', 'ApiAccessTokenSecretArn', 'Bucket', 'BucketName', 'ImageCreatedRuleName', 'ImageEventLogGroup', 'Recipient', 'TokenAdministratorPolicyArn']);
    assert.deepEqual(outputs.ImageCreatedRuleName!.Value, { Ref: ruleId });
    assert.deepEqual(outputs.ImageEventLogGroup!.Value, { Ref: logGroupId });
  });

  it('passes every cdk-nag AwsSolutions check with no acknowledgment beyond the reviewed ones', () => {
    assert.deepEqual(new AwsSolutionsChecks().validateScope(stack).violations, []);
    assert.deepEqual(acknowledgedIn(stack), ACKNOWLEDGED);
  });
});

describe('stack settings from CDK context', () => {
  it('applies retention, cache, key template, camera name and opt-in bucket deletion', () => {
    const config = stackConfigFrom((key) =>
      ({ imageRetentionDays: '30', authorizerCacheSeconds: '0', tokenCacheSeconds: 15, keyTemplate: '{filename}', sharedTokenCamera: 'lobby', destroyBucket: 'true', maxImageBytes: '1000000', logRetentionDays: '7', stackName: 'cams-eu' })[key],
    );
    const { stack, template } = synth(config);
    assert.equal(stack.stackName, 'cams-eu');
    const bucket = only(template, 'AWS::S3::Bucket') as { Properties: { LifecycleConfiguration: Json }; DeletionPolicy: string };
    assert.equal(bucket.DeletionPolicy, 'Delete');
    assert.deepEqual(bucket.Properties.LifecycleConfiguration, { Rules: [{ Id: 'images', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, ExpirationInDays: 30, Status: 'Enabled' }] });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', { AuthorizerResultTtlInSeconds: 0 });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ IMAGES_KEY_TEMPLATE: '{filename}', IMAGES_MAX_BYTES: '1000000' }) } });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ SHARED_TOKEN_CAMERA: 'lobby', TOKEN_CACHE_SECONDS: '15' }) } });
    assert.ok(Object.values(template.findResources('AWS::Logs::LogGroup')).every((group) => (group as { Properties: Json }).Properties.RetentionInDays === 7));
    assert.deepEqual(new AwsSolutionsChecks().validateScope(stack).violations, []);
  });

  it('refuses values the stack or the handlers could not use, naming the key', () => {
    const refuse = (key: string, value: unknown, pattern: RegExp) =>
      assert.throws(() => stackConfigFrom((name) => (name === key ? value : undefined)), (error: Error) => error instanceof StackConfigError && pattern.test(error.message));
    refuse('keyTemplate', '../{filename}', /keyTemplate.*Invalid key template/);
    refuse('maxImageBytes', String(LAMBDA_MAX_IMAGE_BYTES + 1), /maxImageBytes.*from 1 to 4500000/);
    refuse('authorizerCacheSeconds', '3601', /authorizerCacheSeconds/);
    refuse('logRetentionDays', '31', /logRetentionDays.*one of 1, 3, 5/);
    refuse('sharedTokenCamera', '../x', /sharedTokenCamera/);
    refuse('destroyBucket', 'yes', /destroyBucket.*true or false/);
    refuse('eventBridge', 'on', /eventBridge.*true or false/);
    refuse('eventBridge', 1, /eventBridge.*true or false/);
    refuse('stackName', '1abc', /stackName/);
    assert.deepEqual(stackConfigFrom(() => undefined), DEFAULT_CONFIG);
  });

  it('reads eventBridge as true or false, from cdk.json (boolean) or -c (string), off by default', () => {
    const eventBridge = (raw: unknown) => stackConfigFrom((key) => (key === 'eventBridge' ? raw : undefined)).eventBridge;
    assert.equal(DEFAULT_CONFIG.eventBridge, false);
    for (const raw of [true, 'true']) assert.equal(eventBridge(raw), true);
    for (const raw of [false, 'false', '', undefined]) assert.equal(eventBridge(raw), false);
  });
});

describe('the CDK app (infra/app.ts) through the CDK CLI', () => {
  it('synthesizes offline without AWS credentials (npm run synth), with -c settings and cdk-nag on, each function with its own bundle', async () => {
    const outdir = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-cdk-out-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', CDK_DISABLE_CLI_TELEMETRY: 'true' };
      for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION']) delete env[name];
      const cdk = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'cdk');
      await promisify(execFile)(cdk, ['synth', '--no-notices', '--quiet', '--output', outdir, '--context', 'stackName=offline-test', '--context', 'eventBridge=true'], { cwd: PROJECT_ROOT, env, timeout: 180_000 });

      const template = JSON.parse(await readFile(path.join(outdir, 'ImagesToS3.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Json }>; Outputs: Json };
      assert.ok(template.Outputs.Recipient);
      assert.ok(template.Outputs.ImageCreatedRuleName, '-c eventBridge=true (a string) turns the events on');
      assert.equal(Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Events::Rule').length, 1);
      const manifest = JSON.parse(await readFile(path.join(outdir, 'manifest.json'), 'utf8')) as { artifacts: Record<string, { properties?: { stackName?: string } }> };
      assert.equal(manifest.artifacts.ImagesToS3?.properties?.stackName, 'offline-test');

      // Each function's asset holds its own handler, with the on-demand chunks beside it.
      const code = async (service: string): Promise<string> => {
        const fn = Object.values(template.Resources).find((resource) => resource.Type === 'AWS::Lambda::Function' && JSON.stringify(resource.Properties.Environment).includes(service))!;
        const hash = /([0-9a-f]{64})\.zip/.exec(JSON.stringify(fn.Properties.Code))![1]!;
        const directory = path.join(outdir, `asset.${hash}`);
        assert.ok((await readdir(path.join(directory, 'chunks'))).some((file) => file.endsWith('.mjs')));
        return readFile(path.join(directory, 'index.mjs'), 'utf8');
      };
      const upload = await code('images-to-s3-upload');
      const authorizer = await code('images-to-s3-authorizer');
      assert.match(upload, /PutObject/);
      assert.doesNotMatch(upload, /GetSecretValue/);
      assert.match(authorizer, /GetSecretValue/);
      assert.doesNotMatch(authorizer, /PutObject/);
    } finally {
      await rm(outdir, { recursive: true, force: true });
    }
  });
});

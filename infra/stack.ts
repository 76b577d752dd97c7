import { ArnFormat, AssetHashType, Aws, CfnOutput, DockerImage, Duration, RemovalPolicy, Stack, Tags, Validations } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccessLogField, AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { Rule } from 'aws-cdk-lib/aws-events';
import type { IRuleTarget } from 'aws-cdk-lib/aws-events';
import { ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, ResourcePolicy } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import { ENVIRONMENT } from '../src/lambda/settings.js';
import { REGISTRY_FILE_VERSION } from '../src/tokens/registry.js';
import { HANDLER_FILE, PROJECT_ROOT, esbuildOptions } from './bundling.js';
import type { HandlerName } from './bundling.js';
import { DEFAULT_CONFIG } from './config.js';
import type { StackConfig } from './config.js';

export interface ImagesToS3StackProps extends StackProps {
  config?: StackConfig;
}

/** The tag every resource carries, as in Axis' reference stack. */
export const APPLICATION_TAG = { key: 'application', value: 'images-to-s3' } as const;
export const METRICS_NAMESPACE = 'images-to-s3';

/**
 * The AWS serverless receiver: Axis' reference stack (HTTP API, REQUEST authorizer, Secrets
 * Manager token, upload function, S3 bucket) on the same upload contract as the self-hosted server.
 *
 * Outputs keep the reference stack's names: `Recipient` (the camera's recipient URL),
 * `ApiAccessToken` (console link to the token secret), `Bucket` (console link to the bucket).
 */
export class ImagesToS3Stack extends Stack {
  readonly bucket: Bucket;
  readonly secret: Secret;
  readonly tokenAdministratorPolicy: ManagedPolicy;
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly uploadFunction: NodejsFunction;
  readonly authorizerFunction: NodejsFunction;
  /** With `eventBridge` on: the example rule for the bucket's "Object Created" events, and the log group it writes them to. */
  readonly imageEvents: { rule: Rule; logGroup: LogGroup } | undefined;

  constructor(scope: Construct, id: string, { config = DEFAULT_CONFIG, ...props }: ImagesToS3StackProps = {}) {
    super(scope, id, { stackName: config.stackName, ...props });
    Tags.of(this).add(APPLICATION_TAG.key, APPLICATION_TAG.value);

    this.bucket = new Bucket(this, 'Images', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Images are the user's data: kept when the stack goes, unless asked otherwise.
      removalPolicy: config.destroyBucket ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      autoDeleteObjects: config.destroyBucket,
      lifecycleRules: [
        {
          id: 'images',
          abortIncompleteMultipartUploadAfter: Duration.days(1),
          ...(config.imageRetentionDays !== undefined && { expiration: Duration.days(config.imageRetentionDays) }),
        },
      ],
    });

    // The seed's exact shape ({"accessToken":"<alphanumeric>"}), plus an empty token registry
    // for per-camera tokens.
    this.secret = new Secret(this, 'TokenSecret', {
      description: `Camera access tokens of ${config.stackName}: "accessToken" (shared, camera "${config.sharedTokenCamera}") and per-camera hashed "tokens"`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ version: REGISTRY_FILE_VERSION, tokens: [] }),
        generateStringKey: 'accessToken',
        excludePunctuation: true,
        includeSpace: false,
        passwordLength: 32,
      },
    });

    // For the people (or roles) who run `images-to-s3 token create|list|revoke --tokens
    // aws-secretsmanager:<ARN>`: read the secret, store a new value as a version that is not yet
    // current, and move AWSCURRENT to it only if nobody changed the secret meanwhile. Nothing else,
    // on this secret only: no DeleteSecret, no rotation, no other secret.
    this.tokenAdministratorPolicy = new ManagedPolicy(this, 'TokenAdministratorPolicy', {
      description: `Manage the camera tokens of ${config.stackName} (images-to-s3 token create, list, revoke)`,
      statements: [
        new PolicyStatement({
          actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'],
          resources: [this.secret.secretArn],
        }),
      ],
    });

    this.authorizerFunction = this.handlerFunction('authorizer', config, {
      description: 'Checks the camera\'s accessToken against the token secret (API Gateway REQUEST authorizer)',
      environment: {
        [ENVIRONMENT.tokenSecret]: this.secret.secretArn,
        [ENVIRONMENT.sharedTokenCamera]: config.sharedTokenCamera,
        [ENVIRONMENT.tokenCacheSeconds]: String(config.tokenCacheSeconds),
        POWERTOOLS_SERVICE_NAME: 'images-to-s3-authorizer',
      },
      // API Gateway waits 10 s for an authorizer; the client gives up on Secrets Manager before.
      timeout: Duration.seconds(10),
      statements: [new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.secret.secretArn] })],
    });

    this.uploadFunction = this.handlerFunction('upload', config, {
      description: 'Checks and stores the images cameras send',
      environment: {
        [ENVIRONMENT.bucket]: this.bucket.bucketName,
        [ENVIRONMENT.keyTemplate]: config.keyTemplate,
        [ENVIRONMENT.maxImageBytes]: String(config.maxImageBytes),
        POWERTOOLS_SERVICE_NAME: 'images-to-s3-upload',
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
      // API Gateway gives up after 30 s; the S3 client's own timeout (20 s) answers 503 before.
      timeout: Duration.seconds(29),
      // Create-only writes (If-None-Match: *) need nothing but PutObject: no read, list or delete.
      statements: [new PolicyStatement({ actions: ['s3:PutObject'], resources: [this.bucket.arnForObjects('*')] })],
    });

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: config.logRetentionDays, removalPolicy: RemovalPolicy.DESTROY });
    this.api = new HttpApi(this, 'Api', {
      description: 'Recipient for network cameras ("Send images through HTTPS")',
      createDefaultStage: false,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: config.apiRateLimit, burstLimit: config.apiBurstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // The path without its query string: the token never reaches the access log.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            time: AccessLogField.contextRequestTime(),
            sourceIp: AccessLogField.contextIdentitySourceIp(),
            routeKey: '$context.routeKey',
            path: AccessLogField.contextPath(),
            status: AccessLogField.contextStatus(),
            responseLength: AccessLogField.contextResponseLength(),
            camera: '$context.authorizer.camera',
            authorizerError: '$context.authorizer.error',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    const upload = new HttpLambdaIntegration('Upload', this.uploadFunction);
    const authorizer = new HttpLambdaAuthorizer('CameraToken', this.authorizerFunction, {
      responseTypes: [HttpLambdaResponseType.SIMPLE],
      identitySource: ['$request.querystring.accessToken'],
      resultsCacheTtl: Duration.seconds(config.authorizerCacheSeconds),
    });
    // The camera's Test button: GET (and HEAD) without a token.
    this.api.addRoutes({ path: '/', methods: [HttpMethod.GET, HttpMethod.HEAD], integration: upload });
    this.api.addRoutes({ path: '/', methods: [HttpMethod.POST], integration: upload, authorizer });
    // Every other method reaches the contract too, which answers 405 (API Gateway alone would say 404).
    this.api.addRoutes({ path: '/', methods: [HttpMethod.ANY], integration: upload });

    new CfnOutput(this, 'Recipient', {
      description: 'The recipient URL for the camera (Recipients > URL)',
      value: this.stage.url,
    });
    new CfnOutput(this, 'ApiAccessToken', {
      description: 'The token secret; the camera\'s Custom CGI parameters are accessToken=<its accessToken value>',
      value: `https://${Aws.REGION}.console.aws.amazon.com/secretsmanager/secret?name=${this.secret.secretName}&region=${Aws.REGION}`,
    });
    new CfnOutput(this, 'Bucket', {
      description: 'Where the images are stored',
      value: `https://s3.console.aws.amazon.com/s3/buckets/${this.bucket.bucketName}?region=${Aws.REGION}`,
    });
    new CfnOutput(this, 'ApiAccessTokenSecretArn', { description: 'The token secret, for the AWS CLI', value: this.secret.secretArn });
    new CfnOutput(this, 'BucketName', { description: 'The bucket, for the AWS CLI', value: this.bucket.bucketName });
    new CfnOutput(this, 'TokenAdministratorPolicyArn', {
      description: 'The IAM policy to attach to whoever manages camera tokens (images-to-s3 token create|list|revoke)',
      value: this.tokenAdministratorPolicy.managedPolicyArn,
    });

    this.imageEvents = config.eventBridge ? this.addImageEvents(config) : undefined;

    this.acknowledgeReviewedFindings();
  }

  /**
   * `-c eventBridge=true`: S3 sends every event of the bucket to the account's default event bus,
   * and an example rule writes the "Object Created" ones (one per stored image) to a log group.
   */
  private addImageEvents(config: StackConfig): { rule: Rule; logGroup: LogGroup } {
    // CloudFormation's own switch on the bucket. The Bucket's `eventBridgeEnabled` would do the
    // same through a custom resource: one more Lambda function, with AWSLambdaBasicExecutionRole,
    // only to call PutBucketNotificationConfiguration. The stack manages no other notification.
    (this.bucket.node.defaultChild as CfnBucket).notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };

    const logGroup = new LogGroup(this, 'ImageEventLogs', { retention: config.logRetentionDays, removalPolicy: RemovalPolicy.DESTROY });
    // EventBridge writes to CloudWatch Logs under a CloudWatch Logs resource policy (never a role).
    // The statement targets.CloudWatchLogGroup grants, but as a CloudFormation resource
    // (AWS::Logs::ResourcePolicy) instead of its custom resource, which would add a Lambda function
    // allowed to put and delete every resource policy of the account. The policy's name is unique
    // in the account and region, so it carries the stack's name: two stacks (-c stackName=…) can
    // both have events on.
    const policy = new ResourcePolicy(this, 'ImageEventLogsPolicy', {
      resourcePolicyName: `${this.stackName}-image-events`,
      policyStatements: [
        new PolicyStatement({
          principals: [new ServicePrincipal('events.amazonaws.com')],
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      ],
    });
    // The whole event is logged, as targets.CloudWatchLogGroup does by default; its ARN is the log
    // group's without the trailing ":*".
    const logGroupTarget: IRuleTarget = {
      bind: () => ({
        arn: this.formatArn({ service: 'logs', resource: 'log-group', arnFormat: ArnFormat.COLON_RESOURCE_NAME, resourceName: logGroup.logGroupName }),
        targetResource: logGroup,
      }),
    };
    const rule = new Rule(this, 'ImageCreatedRule', {
      description: `Example rule of ${config.stackName}: logs the "Object Created" event of every image stored in its bucket`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: { bucket: { name: [this.bucket.bucketName] } },
      },
      targets: [logGroupTarget],
    });
    // The first events after a deploy find the policy in place.
    rule.node.addDependency(policy);

    new CfnOutput(this, 'ImageCreatedRuleName', { description: 'The example EventBridge rule for the bucket\'s "Object Created" events', value: rule.ruleName });
    new CfnOutput(this, 'ImageEventLogGroup', { description: 'Where the example rule logs the events', value: logGroup.logGroupName });
    return { rule, logGroup };
  }

  /** One handler: its own role (only the given statements, plus writing its own log group), log group and bundle. */
  private handlerFunction(
    name: HandlerName,
    config: StackConfig,
    options: { description: string; environment: Record<string, string>; timeout: Duration; statements: PolicyStatement[] },
  ): NodejsFunction {
    const id = name === 'upload' ? 'Upload' : 'Authorizer';
    const logGroup = new LogGroup(this, `${id}Logs`, { retention: config.logRetentionDays, removalPolicy: RemovalPolicy.DESTROY });
    // A role of its own instead of AWSLambdaBasicExecutionRole, which may write to any log group.
    const role = new Role(this, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `The ${name} function of ${config.stackName}`,
    });
    role.addToPolicy(new PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    for (const statement of options.statements) role.addToPolicy(statement);

    return new NodejsFunction(this, `${id}Function`, {
      description: options.description,
      code: handlerCode(name),
      handler: `${HANDLER_FILE.replace(/\.mjs$/, '')}.handler`,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: 256,
      timeout: options.timeout,
      role,
      logGroup,
      environment: options.environment,
    });
  }

  /** cdk-nag findings that are deliberate; each reason says why. */
  private acknowledgeReviewedFindings(): void {
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Only the upload function writes to this bucket, and it logs every write (camera, key, bytes, status, source IP) to CloudWatch; the API access log records every request. S3 server access logs would repeat that in a second bucket. Enable CloudTrail S3 data events if an audit trail of reads is required.',
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The token is typed into each camera by hand (Custom CGI parameters); an automatic rotation would cut every camera off. Tokens are rotated without downtime by adding a per-camera token to the secret, reconfiguring the camera, then removing the old one.',
    });
    const bucketId = this.getLogicalId(this.bucket.node.defaultChild as CfnBucket);
    Validations.of(this.uploadFunction.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
      reason:
        'The upload function may only s3:PutObject, on any key of this one bucket: keys are made per image from the key template (camera, date, filename), so they cannot be listed in advance. It cannot read, list or delete.',
    });
    for (const route of this.api.node.children.filter((child) => /^(GET|HEAD|ANY)--$/.test(child.node.id))) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          route.node.id === 'ANY--'
            ? 'Methods other than GET, HEAD and POST reach the upload function without a token only to be answered 405 before anything else is looked at; POST, the only method that stores anything, has its own route behind the authorizer.'
            : 'The camera\'s Test button sends GET (HEAD is answered too) without its Custom CGI parameters, so without the token; the answer is a fixed "ready" message and nothing is read or stored.',
      });
    }
  }
}

/**
 * A handler's code, bundled on this machine with esbuild's API (no Docker) by the same
 * {@link esbuildOptions} the tests and the benchmark use. NodejsFunction's own bundling runs the
 * esbuild command line with a single output file, which cannot split the lazily loaded parts of
 * the SDK into chunks; with `code` given, NodejsFunction takes the bundle as it is.
 */
function handlerCode(name: HandlerName): Code {
  return Code.fromAsset(PROJECT_ROOT, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the API, never used: local bundling either succeeds or throws.
      image: DockerImage.fromRegistry('local-esbuild-bundling-only'),
      // Part of the asset cache key, which does not see `local`: without it both functions,
      // bundled from the same project folder, would share the first one's bundle.
      environment: { IMAGES_TO_S3_HANDLER: name },
      local: {
        tryBundle(outputDir: string): boolean {
          buildSync(esbuildOptions(name, outputDir, { logLevel: 'error' }));
          return true;
        },
      },
    },
  });
}

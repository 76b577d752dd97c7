import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayRequestAuthorizerEventV2, Context } from 'aws-lambda';
import { presentedToken } from '../core/outcome.js';
import type { TokenVerifier } from '../core/receiver.js';

/** What the authorizer passes on to the upload function (`event.requestContext.authorizer.lambda`). */
export interface CameraContext {
  camera: string;
}

/** A simple response: the camera is passed on only with a granted request. */
export interface AuthorizerResult {
  isAuthorized: boolean;
  context?: CameraContext;
}
export type AuthorizerHandler = (event: APIGatewayRequestAuthorizerEventV2, context?: Context) => Promise<AuthorizerResult>;

export interface AuthorizerOptions {
  tokens: TokenVerifier;
  logger: Logger;
}

/**
 * The API Gateway HTTP API REQUEST authorizer (payload 2.0, simple responses). API Gateway answers
 * 401 itself when the identity source (`accessToken` in the query) is missing or empty; this
 * function decides between 403 (`isAuthorized: false`) and passing the camera's name on.
 * An error (the token secret cannot be read) propagates, and API Gateway answers 500: failing
 * closed. The token is never logged.
 */
export function createAuthorizer({ tokens, logger }: AuthorizerOptions): AuthorizerHandler {
  return async (event, context) => {
    if (context) logger.addContext(context);
    const sourceIp = event.requestContext.http.sourceIp;
    const presented = presentedToken(tokenValues(event));
    if ('problem' in presented) {
      const reason = presented.problem === 'missing' ? 'no accessToken' : 'accessToken given more than once with different values';
      logger.warn('access denied', { reason, sourceIp });
      return { isAuthorized: false };
    }
    const camera = await tokens.verify(presented.token);
    if (camera === undefined) {
      logger.warn('access denied', { reason: 'unknown or revoked token', sourceIp });
      return { isAuthorized: false };
    }
    logger.info('access granted', { camera, sourceIp });
    return { isAuthorized: true, context: { camera } };
  };
}

/**
 * The `accessToken` values. The raw query string is read because API Gateway joins repeated
 * parameters with commas in `queryStringParameters` and in the identity source.
 */
function tokenValues(event: APIGatewayRequestAuthorizerEventV2): string[] {
  return event.rawQueryString !== undefined ? new URLSearchParams(event.rawQueryString).getAll('accessToken') : (event.identitySource ?? []);
}

/**
 * The error contract: every error body carries `detail` and `error` with the same message (clients of every spec
 * read one of them). Invalid input is 422 (400 on the routes of a spec that says 400), naming the field and the
 * rule; unknown models and hardware are 404 with suggestions; no input gives a 5xx.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { CatalogError, NotFoundError } from '../catalog/index.js';
import { ConfigError } from '../core/arch/index.js';
import { InputError } from '../core/memory/inference.js';
import { FormatError } from '../core/memory/weights.js';
import { PlanError } from '../core/parallel/plan.js';
import { HubError } from '../hub/index.js';
import { StoreInputError } from '../store/index.js';

/** An error with the status and body fields to answer with. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Invalid input: 422, or the route's own status (400) where its spec says so (any ApiError of status 422 is). */
export class InvalidInput extends ApiError {
  constructor(field: string, rule: string) {
    super(422, `${field}: ${rule}`, { errors: [{ field, message: rule }] });
  }
}

export interface ErrorBody {
  detail: string;
  error: string;
  [k: string]: unknown;
}

export function errorBody(message: string, extra: Record<string, unknown> = {}): ErrorBody {
  return { detail: message, error: message, ...extra };
}

interface ZodIssueLike {
  instancePath: string;
  message: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** "batch_size: must be at most 1000000" from a Zod issue and where it came from. */
function describeIssue(context: string | undefined, issue: ZodIssueLike): { field: string; message: string } {
  const path = issue.instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  const where = context === 'querystring' ? 'query' : context === 'params' ? 'path' : 'body';
  const field = path || where;
  let message = issue.message;
  if (issue.keyword === 'invalid_type' && /received undefined/.test(message)) message = 'is required';
  if (issue.keyword === 'unrecognized_keys') message = `unknown field(s) ${String(issue.params['keys'])}`;
  return { field, message };
}

/** Maps any thrown error to a status and body; unknown errors are the only 500s (and are logged). */
export function toErrorResponse(
  err: unknown,
  validationStatus: number,
): { status: number; body: ErrorBody; unexpected: boolean } {
  if (err instanceof ApiError) {
    const status = err.status === 422 ? validationStatus : err.status;
    return { status, body: errorBody(err.message, err.extra), unexpected: false };
  }
  if (err instanceof StoreInputError)
    return {
      status: validationStatus,
      body: errorBody(err.message, { errors: [{ field: err.field, message: err.rule }] }),
      unexpected: false,
    };
  if (hasZodFastifySchemaValidationErrors(err)) {
    const e = err as unknown as { validation: ZodIssueLike[]; validationContext?: string };
    const errors = e.validation.slice(0, 20).map((i) => describeIssue(e.validationContext, i));
    const message = errors.map((x) => `${x.field}: ${x.message}`).join('; ');
    return { status: validationStatus, body: errorBody(message, { errors }), unexpected: false };
  }
  if (err instanceof NotFoundError) {
    return {
      status: 404,
      body: errorBody(err.message, { suggestions: err.suggestions }),
      unexpected: false,
    };
  }
  if (err instanceof HubError) {
    const status = err.status === 422 ? validationStatus : err.status;
    return { status, body: errorBody(err.message, { hub_error: err.code }), unexpected: false };
  }
  if (err instanceof ConfigError) {
    return {
      status: validationStatus,
      body: errorBody(err.message, { missing: err.missing }),
      unexpected: false,
    };
  }
  if (err instanceof PlanError && err.field)
    return {
      status: validationStatus,
      body: errorBody(err.message, { errors: [{ field: err.field, message: err.message }] }),
      unexpected: false,
    };
  if (
    err instanceof InputError ||
    err instanceof PlanError ||
    err instanceof FormatError ||
    err instanceof CatalogError
  ) {
    return { status: validationStatus, body: errorBody(err.message), unexpected: false };
  }
  const fe = err as Partial<FastifyError> | null;
  const code = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (code >= 400 && code < 500) {
    let message = fe?.message ?? 'bad request';
    if (fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = `request body is larger than the limit`;
    if (fe?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      message = 'unsupported content type: send application/json';
    return { status: code, body: errorBody(message), unexpected: false };
  }
  return { status: 500, body: errorBody('internal error'), unexpected: true };
}

export function sendError(reply: FastifyReply, request: FastifyRequest, err: unknown): FastifyReply {
  const config = request.routeOptions?.config as { validationStatus?: number } | undefined;
  const r = toErrorResponse(err, config?.validationStatus ?? 422);
  if (r.unexpected) request.log.error({ err }, 'unexpected error');
  return reply.code(r.status).type('application/json; charset=utf-8').send(r.body);
}

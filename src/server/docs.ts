/**
 * API documentation, served offline: the OpenAPI document at /openapi.json, Swagger UI at /docs (assets from the
 * @fastify/swagger-ui package) and ReDoc at /redoc (ReDoc 2.5.0's standalone bundle from the npm package `redoc`,
 * vendored gzip-compressed in src/server/docs/ with its licence). No page loads anything from another host.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import type { App } from './context.js';
import { LIMITS } from './limits.js';
import { VERSION } from './routes/health.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REDOC_GZ = join(ROOT, 'src', 'server', 'docs', 'redoc.standalone.js.gz');

const DESCRIPTION = `infersim answers how much memory a language model needs, on which GPUs, how fast and at what cost.
Every number comes from one core (src/core); the endpoints of the four calculator specs are thin adapters over it.

Units: fields named \`*_gb\` are decimal gigabytes (10^9 bytes, rounded to 2 decimals); strings such as "14.00 GB"
format the same number; \`*_bytes\` fields are exact. \`?explain=true\` on a computing endpoint adds \`trace\`:
every figure with its formula, inputs and unit.

Errors carry \`detail\` and \`error\` (the same message). Invalid input is 422 (400 on api-memory-calculator.md's
endpoints, as that spec says), naming the field and the rule; unknown models and hardware are 404 with
\`suggestions\`; an unknown route is 404 and a wrong method 405.

Limits: body ${LIMITS.bodyBytes} bytes, JSON depth ${LIMITS.jsonDepth}, ${LIMITS.compareItems} items per compare,
${LIMITS.sequenceLengths} sequence lengths per analyze, batch <= ${LIMITS.batch}, tokens per sequence <= ${LIMITS.seq},
images <= ${LIMITS.images}, configs with <= ${LIMITS.configLayers} layers and <= ${LIMITS.configExperts} experts.`;

export async function registerDocs(app: App): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'infersim', version: VERSION, description: DESCRIPTION },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    uiConfig: { url: '/openapi.json', validatorUrl: null } as Record<string, unknown>,
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  let bundle: Buffer | null = null;
  app.get('/redoc', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(REDOC_HTML),
  );
  app.get('/redoc/redoc.standalone.js', { schema: { hide: true } }, async (_req, reply) => {
    if (!bundle) {
      // The bundle's only external reference is a logo in its footer: pointed at a local copy.
      const js = gunzipSync(readFileSync(REDOC_GZ)).toString('utf8');
      bundle = Buffer.from(js.replace('https://cdn.redoc.ly/redoc/logo-mini.svg', '/redoc/logo.svg'));
    }
    return reply
      .type('application/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=86400')
      .send(bundle);
  });
  app.get('/redoc/logo.svg', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('image/svg+xml').send('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'),
  );
}

const REDOC_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>infersim API (ReDoc)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script>
</body>
</html>
`;

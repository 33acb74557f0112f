// Built by `npm run build:web` (vite build web): everything bundled into web/dist, no CDN, so the page works offline.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 600, sourcemap: false },
  server: {
    proxy: Object.fromEntries(
      ['/api', '/models', '/hardware', '/config', '/generate', '/v1', '/debug', '/cache', '/model_info'].map(
        (p) => [p, 'http://127.0.0.1:8000'],
      ),
    ),
  },
});

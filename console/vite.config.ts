import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

// `TWINX_GATEWAY=http://127.0.0.1:14000 npx vite` in console/ serves the app in development,
// passing the API to a running gateway; the gateway itself serves the built app.
const gateway = process.env.TWINX_GATEWAY;

export default defineConfig({
  root: import.meta.dirname,
  plugins: [preact()],
  // scripts/build-console.mjs holds the bundle to its budget, gzipped, as it travels.
  build: { outDir: 'dist', emptyOutDir: true, assetsDir: 'assets', chunkSizeWarningLimit: 1024 },
  server: gateway ? { proxy: { '/graphql': { target: gateway, ws: true }, '/console/personas.json': gateway } } : undefined,
});

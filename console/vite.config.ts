import { defineConfig } from 'vite';

// Served by Brigade at /ops (src/modules/ops/ops.console.ts); every URL under it is the app's.
export default defineConfig({
  root: import.meta.dirname,
  base: '/ops/',
  // No CDN, no web fonts, nothing fetched at run time: the bundle is all there is.
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, reportCompressedSize: false, assetsInlineLimit: 0 },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  server: { proxy: { '/ops/api': 'http://127.0.0.1:3000' } },
});

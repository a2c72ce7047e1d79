import { defineConfig } from 'vite';
import { resolve } from 'node:path';

export default defineConfig({
  // Relative asset paths: dist/ works when served from any sub-path (GitHub Pages).
  base: './',
  optimizeDeps: {
    include: ['wgsl-preprocessor/wgsl-preprocessor.js', 'lit', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-core/dist/register_all_gradients'],
  },
  build: {
    target: 'es2022',
    rollupOptions: { input: { main: resolve(import.meta.dirname, 'index.html'), regress: resolve(import.meta.dirname, 'regress.html') } },
  },
  worker: { format: 'es' },
});

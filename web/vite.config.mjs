// The web UI's build: `npm run build` writes it to dist/web, which every server replica serves at `/`.
// `npm run web:dev` serves it with hot reload against a running server (TANDEM_URL, default :8080).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
const api = process.env.TANDEM_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root,
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 400,
    reportCompressedSize: false,
  },
  server: { proxy: { '/api': { target: api, changeOrigin: false }, '/login': api, '/metrics': api } },
});

// Builds the UI into dist/ (or $NERVE_UI_OUT): index.html plus assets/app.js and assets/app.css.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.env.NERVE_UI_OUT || join(here, 'dist'));
const assets = join(out, 'assets');

rmSync(assets, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

await build({
  entryPoints: { app: join(here, 'src/main.tsx') },
  outdir: assets,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  sourcemap: false,
  logLevel: 'warning',
  metafile: false,
  define: { 'process.env.NODE_ENV': '"production"' },
});

writeFileSync(join(out, 'index.html'), readFileSync(join(here, 'index.html')));

let total = 0;
for (const f of readdirSync(assets)) total += statSync(join(assets, f)).size;
console.log(`nerve ui: built ${out} (${(total / 1024).toFixed(1)} KiB of assets)`);

// Prints each built asset's raw and gzip size and the gzip total.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.env.NERVE_UI_OUT || join(here, '..', 'dist'));
const LIMIT = 300 * 1024;

function walk(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

let files;
try {
  files = walk(out);
} catch {
  console.error(`no build at ${out}: run npm run build first`);
  process.exit(1);
}
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
let raw = 0;
let gz = 0;
for (const f of files.sort()) {
  const buf = readFileSync(f);
  const g = gzipSync(buf, { level: 9 }).length;
  raw += buf.length;
  gz += g;
  console.log(`${relative(out, f).padEnd(24)} ${kb(buf.length).padStart(11)} raw ${kb(g).padStart(11)} gzip`);
}
console.log(`${'total'.padEnd(24)} ${kb(raw).padStart(11)} raw ${kb(gz).padStart(11)} gzip (budget ${kb(LIMIT)})`);
if (gz > LIMIT) {
  console.error('over the 300 KiB gzip budget');
  process.exit(1);
}

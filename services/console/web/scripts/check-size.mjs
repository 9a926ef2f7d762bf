// The initial JavaScript (what index.html loads) must stay within 250 KB gzipped.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const LIMIT = 250 * 1024;
const dist = new URL("../dist/", import.meta.url).pathname;
const html = readFileSync(join(dist, "index.html"), "utf8");
const scripts = [...html.matchAll(/<(?:script|link)[^>]+(?:src|href)="\/([^"]+\.js)"/g)].map((m) => m[1]);
if (scripts.length === 0) throw new Error("no script found in dist/index.html");
const total = scripts.reduce((sum, file) => sum + gzipSync(readFileSync(join(dist, file))).length, 0);
console.log(`initial JavaScript: ${(total / 1024).toFixed(1)} KB gzipped (limit ${LIMIT / 1024} KB)`);
if (total > LIMIT) {
  console.error("over the size budget");
  process.exit(1);
}

// Bundles the modeller, the DMN editor and the viewer into web/static/dist (no CDN at run time).
import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { validateAll } from '@bpmn-io/element-templates-validator';

// The connectors' element templates (bpmn/templates) must follow the Camunda 7 schema: the
// web modeller and the desktop Camunda Modeler both load them.
const templatesDir = '../../bpmn/templates';
for (const file of readdirSync(templatesDir).filter((f) => f.endsWith('.json'))) {
  const { valid, results } = validateAll(JSON.parse(readFileSync(`${templatesDir}/${file}`, 'utf8')));
  if (!valid) {
    for (const r of results.filter((x) => !x.valid)) {
      console.error(`${file}: ${r.object && r.object.id}:`, JSON.stringify(r.errors.map((e) => e.message)));
    }
    process.exit(1);
  }
}

const outdir = '../static/dist';
mkdirSync(outdir, { recursive: true });
const bundles = [
  ['src/modeller.js', 'modeller', 'PartnerflowModeller'],
  ['src/dmn-modeller.js', 'dmn-modeller', 'PartnerflowDmn'],
  ['src/viewer.js', 'viewer', 'PartnerflowViewer'],
  ['src/graph.js', 'graph', 'PartnerflowGraph'],
];
for (const [entry, name, globalName] of bundles) {
  await build({
    entryPoints: { [name]: entry },
    bundle: true,
    minify: true,
    format: 'iife',
    globalName,
    target: 'es2020',
    outdir,
    loader: { '.woff': 'dataurl', '.woff2': 'dataurl', '.ttf': 'dataurl', '.eot': 'dataurl', '.svg': 'dataurl' },
    logLevel: 'warning',
    legalComments: 'linked',
  });
}
// A stamp of the inputs, so `make` rebuilds only when sources or the lockfile change.
const hash = createHash('sha256');
for (const f of ['package-lock.json', 'build.mjs', ...readdirSync('src').map((f) => `src/${f}`),
  ...readdirSync(templatesDir).map((f) => `${templatesDir}/${f}`)]) {
  hash.update(readFileSync(f));
}
writeFileSync(`${outdir}/.stamp`, hash.digest('hex'));
console.log('bundles written to web/static/dist');

// Bundles the browser code with esbuild into static/dist/ (run from frontend/: `node build.mjs`).
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, 'static', 'dist');
const monacoRoot = path.join(here, 'node_modules', 'monaco-editor');
const monacoVs = path.join(monacoRoot, 'esm', 'vs');

// y-monaco imports 'monaco-editor/esm/vs/editor/editor.api.js', which monaco-editor's exports map
// does not resolve. Point it at the very file the app's `import 'monaco-editor'` pulls in, so the
// bundle holds exactly one Monaco.
const monacoApiAlias = {
  name: 'monaco-api-alias',
  setup(build) {
    build.onResolve({ filter: /^monaco-editor\/esm\/vs\/editor\/editor\.api(\.js)?$/ }, () => ({
      path: path.join(monacoVs, 'editor', 'editor.api.js'),
    }));
  },
};

const workers = {
  'editor.worker': 'editor/editor.worker.js',
  'json.worker': 'language/json/json.worker.js',
  'css.worker': 'language/css/css.worker.js',
  'html.worker': 'language/html/html.worker.js',
  'ts.worker': 'language/typescript/ts.worker.js',
};

const entryPoints = { editor: 'src/editor.js', app: 'src/app.css' };
if (existsSync(path.join(here, 'src', 'dashboard.js'))) entryPoints.dashboard = 'src/dashboard.js';

const common = {
  absWorkingDir: here,
  bundle: true,
  // A checkout whose node_modules is a link to another's (a git worktree) must still see one copy of each module.
  preserveSymlinks: true,
  minify: true,
  sourcemap: true,
  target: ['es2022'],
  outdir,
  logLevel: 'warning',
  loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file', '.svg': 'file', '.png': 'file' },
  assetNames: 'assets/[name]-[hash]',
  plugins: [monacoApiAlias],
};

const started = Date.now();
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const [app] = await Promise.all([
  esbuild.build({ ...common, entryPoints, format: 'esm', splitting: false, metafile: true }),
  esbuild.build({
    ...common,
    entryPoints: Object.fromEntries(Object.entries(workers).map(([name, file]) => [name, path.join(monacoVs, file)])),
    format: 'esm',
  }),
]);

// Guard against the double-Monaco trap: every Monaco source file must appear once in the bundle.
const monacoInputs = Object.keys(app.metafile.inputs).filter((p) => p.endsWith('editor/editor.api.js'));
if (monacoInputs.length !== 1) {
  throw new Error(`expected one copy of Monaco's editor.api.js in the bundle, found ${monacoInputs.length}`);
}
console.log(`built ${Object.keys(entryPoints).join(', ')} + ${Object.keys(workers).length} Monaco workers in ${Date.now() - started} ms`);

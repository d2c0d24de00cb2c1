// Tells Monaco where its web workers are (separate bundles built by build.mjs). Import before Monaco.
// getWorker starts each worker straight from its file under /static/dist/: with getWorkerUrl, Monaco would
// wrap it in a blob: worker, which the Content-Security-Policy (worker-src 'self') refuses.

const WORKER_BY_LABEL = {
  json: 'json.worker',
  css: 'css.worker',
  scss: 'css.worker',
  less: 'css.worker',
  html: 'html.worker',
  handlebars: 'html.worker',
  razor: 'html.worker',
  typescript: 'ts.worker',
  javascript: 'ts.worker',
};

self.MonacoEnvironment = {
  getWorker(_moduleId, label) {
    return new Worker(`/static/dist/${WORKER_BY_LABEL[label] || 'editor.worker'}.js`, { type: 'module', name: label });
  },
};

// Tells Monaco where its web workers are (separate bundles built by build.mjs). Import before Monaco.

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
  getWorkerUrl(_moduleId, label) {
    return `/static/dist/${WORKER_BY_LABEL[label] || 'editor.worker'}.js`;
  },
};

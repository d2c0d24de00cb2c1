// The "Project environment" section of the Jobs tab: sparkroom.toml's state (its problems, what it sets up), and for
// the owner whether the setup phase may use the network and the secrets (names only: values are never sent back).

import { api } from '../editor/http.js';
import { h } from './dom.js';

export class EnvironmentSection {
  constructor(app) {
    this.app = app;
    this.isOwner = app.config?.role === 'owner';
    this.body = h('div', { class: 'jobs-env-body', testid: 'jobs-env-body' });
    this.root = h('details', { class: 'jobs-env', testid: 'jobs-env' }, h('summary', {}, 'Project environment'), this.body);
    this.root.addEventListener('toggle', () => {
      if (this.root.open) this.load();
    });
  }

  url(suffix = 'environment') {
    return `/api/workspaces/${this.app.config.workspace.id}/${suffix}`;
  }

  async load() {
    try {
      this.render(await api('GET', this.url()));
    } catch (error) {
      this.body.replaceChildren(h('p', { class: 'job-error' }, error.message));
    }
  }

  render(state) {
    const file = state.file;
    const status = !file.present
      ? 'No sparkroom.toml: jobs use the server defaults.'
      : file.problems.length
        ? `sparkroom.toml has ${file.problems.length} problem(s): jobs will fail until they are fixed.`
        : `sparkroom.toml is valid${file.setup ? '; setup is cached until its inputs change' : ''}.`;
    const network = h('input', { type: 'checkbox', testid: 'jobs-env-network', disabled: !this.isOwner, checked: state.setup_network });
    network.addEventListener('change', () => this.save(() => api('PUT', this.url(), { setup_network: network.checked })));
    this.body.replaceChildren(
      h('p', { testid: 'jobs-env-status' }, status),
      file.problems.length ? h('ul', { class: 'job-error', testid: 'jobs-env-problems' }, ...file.problems.map((p) => h('li', {}, p))) : null,
      h('label', { class: 'jobs-env-network' }, network, ' Setup may use the network (commands and the agent never do)'),
      this.isOwner ? this.secrets(state.secrets ?? []) : null,
    );
  }

  secrets(list) {
    const name = h('input', { testid: 'jobs-secret-name', placeholder: 'NAME', 'aria-label': 'Secret name', autocomplete: 'off' });
    const value = h('input', { type: 'password', testid: 'jobs-secret-value', placeholder: 'value', 'aria-label': 'Secret value', autocomplete: 'new-password' });
    const form = h('form', { class: 'jobs-secret-form' }, name, value, h('button', { type: 'submit', testid: 'jobs-secret-save' }, 'Save'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.save(() => api('PUT', this.url(`secrets/${encodeURIComponent(name.value.trim())}`), { value: value.value }));
    });
    return h(
      'div',
      { class: 'jobs-secrets', testid: 'jobs-secrets' },
      h('strong', {}, 'Secrets (setup phase only; never shown, hidden from logs)'),
      ...list.map((s) =>
        h(
          'div',
          { class: 'jobs-secret', testid: 'jobs-secret', 'data-name': s.name },
          h('code', {}, s.name),
          h('button', { type: 'button', testid: 'jobs-secret-delete', onclick: () => this.save(() => api('DELETE', this.url(`secrets/${encodeURIComponent(s.name)}`))) }, 'Delete'),
        ),
      ),
      form,
    );
  }

  async save(call) {
    try {
      await call();
    } catch (error) {
      this.app.toast(error.message, 'error');
    }
    await this.load();
  }
}

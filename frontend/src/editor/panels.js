// The right side panel: plugin tabs. addTab(id, title) returns the tab's content element.

export class Panels {
  constructor(root) {
    this.root = root;
    this.tabBar = root.querySelector('.panel-tabs');
    this.body = root.querySelector('.panel-body');
    this.tabs = new Map();
  }

  addTab(id, title) {
    if (this.tabs.has(id)) return this.tabs.get(id).content;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'panel-tab';
    button.textContent = title;
    button.dataset.testid = `panel-tab-${id}`;
    button.setAttribute('role', 'tab');
    button.addEventListener('click', () => this.show(id));
    const content = document.createElement('section');
    content.className = 'panel-content';
    content.dataset.testid = `panel-${id}`;
    content.setAttribute('role', 'tabpanel');
    content.hidden = true;
    this.tabBar.append(button);
    this.body.append(content);
    this.tabs.set(id, { button, content });
    this.root.classList.remove('empty');
    if (this.tabs.size === 1) this.show(id);
    return content;
  }

  show(id) {
    for (const [tabId, tab] of this.tabs) {
      const active = tabId === id;
      tab.button.classList.toggle('active', active);
      tab.button.setAttribute('aria-selected', String(active));
      tab.content.hidden = !active;
    }
    this.root.classList.remove('collapsed');
  }
}

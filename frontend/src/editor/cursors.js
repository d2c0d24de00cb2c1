// Colours and name labels for remote cursors: y-monaco tags decorations with
// yRemoteSelection-<clientID> / yRemoteSelectionHead-<clientID>; we inject one CSS rule set per client.

export class RemoteCursorStyles {
  constructor(awareness, localClientId) {
    this.awareness = awareness;
    this.localClientId = localClientId;
    this.style = document.createElement('style');
    this.style.dataset.role = 'remote-cursors';
    document.head.append(this.style);
    this.render = () => this.update();
    awareness.on('change', this.render);
    this.update();
  }

  update() {
    const rules = [];
    this.awareness.getStates().forEach((state, clientId) => {
      if (clientId === this.localClientId || !state.user) return;
      const color = safeColor(state.user.color);
      const name = JSON.stringify(String(state.user.name || 'anonymous').slice(0, 40));
      rules.push(
        `.yRemoteSelection-${clientId}{background-color:${color}59}`,
        `.yRemoteSelectionHead-${clientId}{position:absolute;height:100%;border-left:2px solid ${color};box-sizing:border-box}`,
        `.yRemoteSelectionHead-${clientId}::after{content:${name};background:${color}}`,
      );
    });
    this.style.textContent = rules.join('\n');
  }

  destroy() {
    this.awareness.off('change', this.render);
    this.style.remove();
  }
}

function safeColor(value) {
  return /^#[0-9a-fA-F]{6}$/.test(value || '') ? value : '#888888';
}

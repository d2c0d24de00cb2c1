// Live updates: one workspace-channel socket per workspace on the page; calls onUpdate on history.updated.

export function connectLive(workspaceIds, onUpdate, onStatus) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const open = new Set();
  const total = workspaceIds.length;
  const report = () => onStatus(total === 0 ? 'idle' : open.size === total ? 'connected' : open.size ? 'partial' : 'connecting');

  function connect(id, attempt = 0) {
    const socket = new WebSocket(`${proto}//${location.host}/ws/workspace/${id}`);
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === 'hello') {
        open.add(id);
        report();
        attempt = 0;
      } else if (message.type === 'history.updated') {
        onUpdate({ ...message, workspace_id: id });
      }
    };
    socket.onclose = (event) => {
      open.delete(id);
      report();
      if (event.code >= 4400 && event.code < 4500) return; // refused for good (logged out, removed)
      setTimeout(() => connect(id, attempt + 1), Math.min(200 * 2 ** attempt, 10000));
    };
  }

  workspaceIds.forEach((id) => connect(id));
  report();
}

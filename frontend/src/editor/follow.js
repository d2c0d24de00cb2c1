// Follows the open document: `refresh` runs once the document has been quiet for `delayMs` after a change
// (people typing get one call per pause, not one per keystroke). `follow()` after a file opened (the new
// document), `stop()` after it closed. Used by the side panels that show something computed from the text.
export function followOpenDocument(app, refresh, delayMs) {
  let timer = null;
  let unobserve = null;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, delayMs);
  };
  return {
    follow() {
      unobserve?.();
      unobserve = null;
      const doc = app.getDoc();
      if (!doc) return;
      doc.on('update', soon);
      unobserve = () => doc.off('update', soon);
    },
    stop() {
      clearTimeout(timer);
      unobserve?.();
      unobserve = null;
    },
  };
}

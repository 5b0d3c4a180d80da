// Keyboard shortcuts that work wherever the focus is (a slider, the scrub bar, a button), except in text
// fields. Ctrl, Meta and Alt combinations are left to the browser and to other handlers (undo/redo).

const TEXT_TYPES = new Set(["text", "search", "email", "url", "password", "number", "tel", ""]);

// True for elements that take typed text: keys typed there are text, not shortcuts.
export function isTextField(el) {
  if (!el || !el.tagName) return false;
  if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
  return el.tagName === "INPUT" && TEXT_TYPES.has((el.getAttribute("type") || "").toLowerCase());
}

// The name a shortcut is bound under: a letter in lower case (Shift or Caps Lock do not matter), else e.key.
export function shortcutName(event) {
  return event.key.length === 1 ? event.key.toLowerCase() : event.key;
}

export class Shortcuts {
  constructor(target = window) {
    this.bindings = new Map();
    target.addEventListener("keydown", (e) => this.handle(e));
  }

  bind(names, action) {
    for (const name of [].concat(names)) this.bindings.set(name, action);
    return this;
  }

  handle(event) {
    if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTextField(event.target)) return;
    const action = this.bindings.get(shortcutName(event));
    if (!action) return;
    // The key is the shortcut's, not the focused control's: a slider must not move, a button must not click.
    event.preventDefault();
    const focused = event.target;
    if (focused && focused !== document.body && typeof focused.blur === "function") focused.blur();
    action(event);
  }
}

// The page's shortcuts (listed in the "Keys" card of index.html).
export function pageShortcuts(app) {
  const when = (action) => () => app.state && action();
  const shortcuts = new Shortcuts(window)
    .bind("ArrowLeft", when(() => app.goto(app.current - 1)))
    .bind("ArrowRight", when(() => app.goto(app.current + 1)))
    .bind(" ", when(() => app.togglePlay()))
    .bind("z", when(() => app.undoRedo.undo()))
    .bind("c", when(() => app.editor.clear()))
    .bind("p", when(() => app.setNegative(false)))
    .bind("n", when(() => app.setNegative(true)))
    .bind("[", when(() => app.setBrush(app.editor.brush - 1)))
    .bind("]", when(() => app.setBrush(app.editor.brush + 1)))
    .bind("m", when(() => app.toggleMasks()))
    .bind("r", when(() => app.goto(app.state.recommendation.frame)))
    .bind("e", when(() => app.exportDavis()))
    .bind("a", when(() => document.getElementById("new-object-name").focus()))
    .bind("Enter", when(() => app.run.start()))
    .bind("Escape", when(() => app.run.cancel()));
  for (let k = 1; k <= 9; k++) {
    shortcuts.bind(String(k), when(() => {
      const obj = app.state.objects[k - 1];
      if (obj) app.selectObject(obj.id);
    }));
  }
  return shortcuts;
}

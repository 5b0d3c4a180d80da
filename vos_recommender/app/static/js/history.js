// Undo and redo of strokes, mask edits and whole rounds. The history is the server's (saved with the
// session), so it survives a reload; this module sends the requests, keeps the buttons current and
// handles Ctrl+Z, Ctrl+Shift+Z and Ctrl+Y (Cmd on a Mac) wherever focus is, except in text fields.

import { api, banner, guarded } from "./api.js";
import { isTextField } from "./keyboard.js";

const $ = (id) => document.getElementById(id);

export class HistoryControl {
  constructor(app) {
    this.app = app;
    this.busy = false;
    $("undo-btn").addEventListener("click", () => this.undo());
    $("redo-btn").addEventListener("click", () => this.redo());
    window.addEventListener("keydown", (e) => this.key(e));
  }

  key(e) {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || isTextField(e.target)) return;
    const k = e.key.toLowerCase();
    if (k === "z" && !e.shiftKey) {
      e.preventDefault();
      this.undo();
    } else if ((k === "z" && e.shiftKey) || (k === "y" && !e.shiftKey)) {
      e.preventDefault();
      this.redo();
    }
  }

  undo() {
    return this.step("undo");
  }

  redo() {
    return this.step("redo");
  }

  async step(which) {
    const app = this.app;
    if (this.busy || !app.state) return;
    this.busy = true;
    try {
      await app.flushStrokes(); // strokes drawn a moment ago are a change to undo too
      if (!app.state.history[which]) {
        banner(`Nothing to ${which}.`, "info", 2000);
        return;
      }
      const state = await guarded(() => api("POST", `/api/${which}`));
      if (!state) return;
      banner(state.done.charAt(0).toUpperCase() + state.done.slice(1), "info", 2500);
      app.setState(state, { reloadDrafts: true });
      app.goto(app.current);
    } finally {
      this.busy = false;
    }
  }

  // Enable the buttons and name what they would undo or redo (state.history from /api/state).
  update(history) {
    $("undo-btn").disabled = !history.undo;
    $("redo-btn").disabled = !history.redo;
    $("undo-btn").title = history.undo ? `Undo ${history.undo} (Ctrl+Z)` : "Nothing to undo";
    $("redo-btn").title = history.redo ? `Redo ${history.redo} (Ctrl+Shift+Z, Ctrl+Y)` : "Nothing to redo";
  }
}

// The object list: pick the object the positive strokes mark, add, rename (double-click) and delete objects.

import { api, banner, guarded } from "./api.js";

export class ObjectPanel {
  constructor(list, nameInput, addButton, app) {
    this.list = list;
    this.nameInput = nameInput;
    this.app = app;
    this.creating = null;
    addButton.addEventListener("click", () => this.add());
    // Enter adds the object and Esc gives up; both leave the box, so the next keys are shortcuts again.
    nameInput.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.isComposing) {
        e.preventDefault();
        nameInput.blur();
        this.add();
      } else if (e.key === "Escape") {
        e.preventDefault();
        nameInput.value = "";
        nameInput.blur();
      }
    });
  }

  // Strokes for an object drawn before any object exists: add "object 1" for them (once, however many
  // strokes arrive while it is being added). Resolves to true when an object exists.
  ensureOne() {
    if (this.app.state && this.app.state.objects.length) return Promise.resolve(true);
    if (!this.creating) {
      this.creating = (async () => {
        const state = await guarded(() => api("POST", "/api/objects", { name: null }));
        this.creating = null;
        if (!state) return false;
        const obj = state.objects[state.objects.length - 1];
        this.app.selectObject(obj.id);
        this.app.setState(state);
        banner(`Added "${obj.name}" for your stroke (there was no object yet): rename it with ✎.`, "info");
        return true;
      })();
    }
    return this.creating;
  }

  async add() {
    const name = this.nameInput.value.trim();
    const state = await guarded(() => api("POST", "/api/objects", { name: name || null }));
    if (!state) return;
    this.nameInput.value = "";
    this.app.selectObject(state.objects[state.objects.length - 1].id);
    this.app.setState(state);
  }

  async rename(obj) {
    const name = window.prompt(`New name for "${obj.name}"`, obj.name);
    if (name === null) return;
    const state = await guarded(() => api("PATCH", `/api/objects/${obj.id}`, { name }));
    if (state) this.app.setState(state);
  }

  async remove(obj) {
    const ok = window.confirm(`Delete "${obj.name}"? Its strokes in every round and its mask are removed.`);
    if (!ok) return;
    const state = await guarded(() => api("DELETE", `/api/objects/${obj.id}`));
    if (state) this.app.setState(state, { reloadDrafts: true });
  }

  render(objects, selected) {
    this.list.replaceChildren();
    if (!objects.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "no objects yet: add one";
      this.list.append(li);
      return;
    }
    objects.forEach((obj, index) => {
      const li = document.createElement("li");
      li.className = obj.id === selected ? "active" : "";
      li.dataset.objectId = String(obj.id);
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = `rgb(${obj.colour.join(",")})`;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = obj.name;
      name.title = "double-click to rename";
      const key = document.createElement("span");
      key.className = "key";
      key.textContent = index < 9 ? String(index + 1) : "";
      const rename = document.createElement("button");
      rename.className = "act";
      rename.textContent = "✎";
      rename.title = "rename";
      const del = document.createElement("button");
      del.className = "act";
      del.textContent = "✕";
      del.title = "delete";
      li.append(swatch, name, key, rename, del);
      li.addEventListener("click", () => this.app.selectObject(obj.id));
      name.addEventListener("dblclick", () => this.rename(obj));
      rename.addEventListener("click", (e) => {
        e.stopPropagation();
        this.rename(obj);
      });
      del.addEventListener("click", (e) => {
        e.stopPropagation();
        this.remove(obj);
      });
      this.list.append(li);
    });
  }
}

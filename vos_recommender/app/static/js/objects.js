// The object list: pick the object the positive strokes mark, add, rename (double-click) and delete objects.

import { api, guarded } from "./api.js";

export class ObjectPanel {
  constructor(list, nameInput, addButton, app) {
    this.list = list;
    this.nameInput = nameInput;
    this.app = app;
    addButton.addEventListener("click", () => this.add());
    nameInput.addEventListener("keydown", (e) => {
      if (e.key === "Enter") this.add();
    });
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

// The exported page's stand-in for Jupyter's widget manager: just enough of anywidget's model API
// (get, set, on, off, save_changes, send, widget_manager.get_model) for vaekit's widgets, over the state
// the kernel had when the page was written. No server, no network: the widgets' ES modules are in the
// state and are imported from Blob URLs.

const state = JSON.parse(document.getElementById("vaekit-state").textContent);

function revive(value) {
  // {"$bytes": base64} -> DataView, as a binary trait arrives from a kernel
  if (value && typeof value === "object" && !Array.isArray(value) && "$bytes" in value) {
    const text = atob(value.$bytes);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return new DataView(bytes.buffer);
  }
  return value;
}

class Model {
  constructor(id, traits) {
    this.id = id;
    this.traits = Object.fromEntries(Object.entries(traits).map(([k, v]) => [k, revive(v)]));
    this.handlers = new Map();
    this.widget_manager = manager;
  }
  get(name) {
    return this.traits[name];
  }
  set(name, value) {
    const old = this.traits[name];
    this.traits[name] = value;
    if (old !== value) for (const callback of [...(this.handlers.get(`change:${name}`) ?? [])]) callback();
  }
  on(event, callback) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(callback);
  }
  off(event, callback) {
    this.handlers.get(event)?.delete(callback);
  }
  save_changes() {} // no kernel to tell
  send() {}
}

const models = new Map();
const manager = {
  async get_model(id) {
    const model = models.get(id);
    if (!model) throw new Error(`vaekit: no widget ${id} in this page`);
    return model;
  },
};
for (const [id, traits] of Object.entries(state.models)) models.set(id, new Model(id, traits));

for (const el of document.querySelectorAll("[data-vaekit-model]")) {
  const model = models.get(el.dataset.vaekitModel);
  el.classList.add(...(model.get("_dom_classes") ?? []));
  const url = URL.createObjectURL(new Blob([model.get("_esm")], { type: "text/javascript" }));
  const widget = (await import(url)).default;
  URL.revokeObjectURL(url);
  await widget.render({ model, el });
}
document.body.dataset.vaekitReady = "1";

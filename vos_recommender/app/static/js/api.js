// HTTP calls to the app's JSON API, and the banners that show their errors.

export async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error(`the app server does not answer (${err.message}); is it still running?`);
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : `${method} ${path} failed (${response.status})`;
    throw new Error(message);
  }
  return data;
}

export function banner(message, kind = "error", timeout = 0) {
  const box = document.getElementById("banners");
  const item = document.createElement("div");
  item.className = `banner ${kind}`;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  const text = document.createElement("div");
  text.className = "msg";
  text.textContent = message;
  const close = document.createElement("button");
  close.className = "close";
  close.textContent = "×";
  close.title = "dismiss";
  close.onclick = () => item.remove();
  item.append(text, close);
  box.append(item);
  while (box.children.length > 3) box.firstChild.remove();
  if (timeout > 0) setTimeout(() => item.remove(), timeout);
  return item;
}

export function clearErrors() {
  for (const item of document.querySelectorAll("#banners .banner.error")) item.remove();
}

// Run an async action and show its error in a banner instead of throwing.
export async function guarded(action) {
  try {
    return await action();
  } catch (err) {
    banner(err.message, "error");
    return undefined;
  }
}

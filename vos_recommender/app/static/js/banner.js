// Messages to the user: one banner at a time, above the page's header; a new one replaces the old one, and
// each fades out after a while (errors stay longest) unless it is asked to stay.

//: How long each kind stays, in milliseconds, when the caller gives no time.
export const BANNER_MS = { error: 9000, ok: 6000, info: 5000 };
const FADE_MS = 400;

let hideTimer = null;

function remove(item) {
  item.classList.add("fading");
  setTimeout(() => item.remove(), FADE_MS);
}

// Show `message`; `timeout` in ms (undefined: BANNER_MS[kind]; 0: stay until replaced or dismissed).
export function banner(message, kind = "error", timeout = undefined) {
  const box = document.getElementById("banners");
  clearTimeout(hideTimer);
  for (const old of box.querySelectorAll(".banner")) old.remove();
  const item = document.createElement("div");
  item.className = `banner ${kind}`;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  const text = document.createElement("div");
  text.className = "msg";
  text.textContent = message;
  text.title = message;
  const close = document.createElement("button");
  close.className = "close";
  close.textContent = "×";
  close.title = "dismiss";
  close.onclick = () => remove(item);
  item.append(text, close);
  box.append(item);
  const ms = timeout === undefined ? BANNER_MS[kind] || BANNER_MS.info : timeout;
  if (ms > 0) hideTimer = setTimeout(() => remove(item), ms);
  return item;
}

export function clearErrors() {
  for (const item of document.querySelectorAll("#banners .banner.error")) item.remove();
}

// HTTP calls to the app's JSON API; their errors go to a banner (banner.js).

import { banner, clearErrors } from "./banner.js";

export { banner, clearErrors };

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

// Run an async action and show its error in a banner instead of throwing.
export async function guarded(action) {
  try {
    return await action();
  } catch (err) {
    banner(err.message, "error");
    return undefined;
  }
}

// The signed-in token, kept in sessionStorage only: it lives as long as the tab, is never put
// in a URL or a cookie, and other tabs and sites cannot read it.

const key = 'switchboard.console.token';

export function storedToken() {
  try {
    return sessionStorage.getItem(key) || '';
  } catch {
    return '';
  }
}

export function storeToken(token) {
  sessionStorage.setItem(key, token);
}

export function forgetToken() {
  try {
    sessionStorage.removeItem(key);
  } catch {
    /* storage unavailable: nothing kept */
  }
}

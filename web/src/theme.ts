// Light, dark, or the system's choice (the default), remembered in this browser: in localStorage for
// the app, and in a cookie for the server's own pages (/login, /login/device), which run no script.
export type Theme = 'system' | 'light' | 'dark';
const KEY = 'tandem.theme';
/** src/server/html-page.ts THEME_COOKIE. */
const COOKIE = 'tandem_theme';
const YEAR_SECONDS = 365 * 86400;

export function storedTheme(): Theme {
  const value = localStorage.getItem(KEY);
  return value === 'light' || value === 'dark' ? value : 'system';
}

export function applyTheme(theme: Theme): void {
  if (theme === 'system') {
    document.documentElement.removeAttribute('data-theme');
    localStorage.removeItem(KEY);
    document.cookie = `${COOKIE}=; path=/; max-age=0; samesite=lax`;
  } else {
    document.documentElement.setAttribute('data-theme', theme);
    localStorage.setItem(KEY, theme);
    document.cookie = `${COOKIE}=${theme}; path=/; max-age=${YEAR_SECONDS}; samesite=lax`;
  }
}

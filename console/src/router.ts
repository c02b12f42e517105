import { useEffect, useState } from 'preact/hooks';

const listeners = new Set<() => void>();

/** Goes to a path of the console without reloading it. */
export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  for (const listener of listeners) listener();
}

/** The current path, following links, back and forward. */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return path;
}

/** Links within the console change the path in place; others (new tab, modifier keys, other sites) work as links do. */
export function followLinks(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = (event.target as Element | null)?.closest?.('a');
  if (!link || link.target || link.origin !== location.origin) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
}

/** A twin's page: its global id as it reads, `<org>:<local id>`. */
export const twinPath = (id: string) => `/twins/${encodeURIComponent(id).replace(/%3A/gi, ':')}`;

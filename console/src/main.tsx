import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { AdminPage } from './admin.tsx';
import { AlarmsPage } from './alarms.tsx';
import { disconnect, useReconnecting } from './api.ts';
import { ExplorerRoute } from './explorer-route.tsx';
import { ImpactPage } from './impact.tsx';
import { MapPage } from './map.tsx';
import { followLinks, navigate, usePath } from './router.ts';
import { loadSession, saveSession, type Session } from './session.ts';
import { SignIn } from './signin.tsx';
import { TwinPage } from './twin.tsx';
import './style.css';

function Page({ session, path }: { session: Session; path: string }) {
  if (path === '/map') return <MapPage session={session} />;
  if (path === '/alarms') return <AlarmsPage session={session} />;
  if (path === '/explorer') return <ExplorerRoute session={session} />;
  const admin = /^\/admin(?:\/([^/]+))?$/.exec(path);
  if (admin) return <AdminPage session={session} tab={admin[1] ?? ''} />;
  if (path === '/impact') return <ImpactPage session={session} twinId={new URLSearchParams(location.search).get('twin')} />;
  const twin = /^\/twins\/([^/]+)$/.exec(path);
  if (twin?.[1]) {
    const id = decodeURIComponent(twin[1]);
    return <TwinPage key={id} session={session} id={id} />;
  }
  return (
    <main class="page">
      <h1>Not found</h1>
      <p>
        Nothing lives at this address. Go to the <a href="/map">network map</a>.
      </p>
    </main>
  );
}

/** Says when live updates are paused, the connection to the gateway lost and being made again. */
function LiveBanner({ session }: { session: Session }) {
  if (!useReconnecting(session)) return null;
  return (
    <p class="banner" role="status" data-testid="reconnecting">
      Live updates paused: reconnecting to the gateway…
    </p>
  );
}

function App() {
  const path = usePath();
  const [session, setSession] = useState(loadSession);
  useEffect(() => {
    if (session && path === '/') navigate('/map', true);
  }, [session, path]);

  const signIn = (next: Session) => {
    saveSession(next);
    setSession(next);
  };
  const signOut = () => {
    if (session) disconnect(session);
    saveSession(null);
    setSession(null);
  };

  return (
    <div class="shell" onClick={followLinks}>
      <header class="top">
        <a class="brand" href="/map">
          twinx
        </a>
        {session && (
          <nav>
            <a href="/map">Network map</a>
            <a href="/alarms">Alarms</a>
            <a href="/explorer">Explorer</a>
            <a href="/admin" data-testid="nav-admin">
              Administration
            </a>
            <a href="/impact">Impact</a>
            <span data-testid="whoami">{session.name}</span>
            <button type="button" data-testid="signout" onClick={signOut}>
              Sign out
            </button>
          </nav>
        )}
      </header>
      {session && <LiveBanner session={session} />}
      {session ? <Page session={session} path={path} /> : <SignIn onSignIn={signIn} />}
    </div>
  );
}

render(<App />, document.getElementById('app')!);

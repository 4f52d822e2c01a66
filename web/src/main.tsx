import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { SessionProvider } from './session.js';
import { applyTheme, storedTheme } from './theme.js';
import './styles.css';

applyTheme(storedTheme());
const root = document.getElementById('root');
if (!root) throw new Error('index.html lost its #root');
createRoot(root).render(
  <StrictMode>
    <SessionProvider>
      <App />
    </SessionProvider>
  </StrictMode>,
);

// Who made a request, as records of who did what name them (freeze overrides, silences).
import type { Principal } from './http.js';

export function actorOf(principal: Principal): string {
  switch (principal.kind) {
    case 'admin':
      return `admin token #${principal.tokenId}`;
    case 'agent':
      return `agent #${principal.agentId}`;
    case 'anonymous':
      return 'anonymous';
  }
}

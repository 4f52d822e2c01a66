// Orchestrations above the server, the agent and src/dr (today: the disaster-recovery drill).
export { runDrill } from './drill.js';

// Test and coverage reports jobs upload: streaming XML, Cobertura summaries and their table.
export * from './cobertura.js';
export * from './coverage-store.js';
export * from './xml.js';

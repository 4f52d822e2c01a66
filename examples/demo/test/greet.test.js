// Checks the built library (from the build job's artifact) in one language.
import assert from 'node:assert/strict';
import { greet } from '../dist/greet.js';

const language = process.argv[2] ?? 'en';
const expected = { en: 'Hello, Tandem!', fr: 'Bonjour, Tandem!', de: 'Hallo, Tandem!' }[language];
assert.equal(greet('Tandem', language), expected);
console.log(`ok: ${language} -> ${expected}`);

// A tiny library for the demo pipeline.
const greetings = { en: 'Hello', fr: 'Bonjour', de: 'Hallo' };

export function greet(name, language = 'en') {
  const word = greetings[language];
  if (!word) throw new Error(`unknown language ${language}`);
  return `${word}, ${name}!`;
}

import { test } from 'node:test';

test('boots', () => {});

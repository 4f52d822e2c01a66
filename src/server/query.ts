// Query and path parameters shared by the routes: one parser, so every list is bounded the same
// way and bad input gets the same answer naming the parameter (a negative, fractional or huge
// `limit` could otherwise lift a route's cap).
import { ApiError } from './http.js';

type Query = Record<string, string | undefined>;

/** A path parameter naming a row by its id: a positive whole number, else 400 naming `what`. */
export function idParam(value: string | undefined, what: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id <= 0) throw new ApiError(400, `${what}: expected a positive integer, got "${value}"`);
  return id;
}

/** A whole number from `min` to `max`; absent (or empty): `fallback`. */
export function integerParam(query: Query, name: string, range: { min: number; max: number; fallback: number }): number;
export function integerParam(query: Query, name: string, range: { min: number; max: number }): number | undefined;
export function integerParam(query: Query, name: string, range: { min: number; max: number; fallback?: number }): number | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return range.fallback;
  // Digits only: Number() would also take "1e3", "0x10", " 5" and "-0".
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw new ApiError(
      422,
      `query parameter ${name}: expected a whole number from ${range.min} to ${range.max}, got ${JSON.stringify(raw.slice(0, 40))}`,
    );
  }
  return value;
}

export interface Page {
  limit: number;
  /** Only rows with a smaller id (the next page after the last one shown). */
  before?: number;
}

/** `?limit=` (1 to `max`, default `fallback`) and the `?before=` id of a newest-first list. */
export function pageParams(query: Query, limits: { fallback: number; max: number }): Page {
  return {
    limit: integerParam(query, 'limit', { min: 1, ...limits }),
    before: integerParam(query, 'before', { min: 1, max: Number.MAX_SAFE_INTEGER }),
  };
}

/** Both pipeline lists (all visible repositories, one repository) page alike. */
export const PIPELINE_PAGE = { fallback: 50, max: 500 };

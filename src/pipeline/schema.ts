// JSON Schema (draft-07) for editors, generated from keys.ts.
import { jobShape, topLevelKeys, type Shape } from './keys.js';

type JsonSchema = Record<string, unknown>;

function toSchema(shape: Shape): JsonSchema {
  const base: JsonSchema = {};
  const description = [shape.description, shape.ignoredBecause && `Ignored: ${shape.ignoredBecause}`].filter(Boolean).join('. ');
  if (description) base.description = description;
  switch (shape.kind) {
    case 'string':
      if (shape.enum) return { ...base, type: 'string', enum: [...shape.enum] };
      if (shape.format === 'duration' || shape.format === 'duration-or-never') return { ...base, type: ['string', 'integer'] };
      return { ...base, type: ['string', 'number'] };
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'integer':
      return {
        ...base,
        type: 'integer',
        ...(shape.min !== undefined && { minimum: shape.min }),
        ...(shape.max !== undefined && { maximum: shape.max }),
      };
    case 'scalar':
      return { ...base, type: ['string', 'number', 'boolean', 'null'] };
    case 'list': {
      const items = toSchema(shape.items);
      // Flattened lists accept nested lists of the same items.
      return {
        ...base,
        type: 'array',
        items: shape.flatten ? { anyOf: [items, { type: 'array' }] } : items,
        ...(shape.max !== undefined && { maxItems: shape.max }),
        ...(shape.nonEmpty && { minItems: 1 }),
      };
    }
    case 'object':
      return {
        ...base,
        type: 'object',
        properties: Object.fromEntries(Object.entries(shape.keys).map(([k, s]) => [k, toSchema(s)])),
        additionalProperties: shape.values ? toSchema(shape.values) : false,
        ...(shape.required?.length && { required: [...shape.required] }),
      };
    case 'oneOf':
      return { ...base, anyOf: shape.options.map(toSchema) };
    case 'any':
      return base;
  }
}

/**
 * A key left empty (`image:`) is unset, as GitLab's config factory makes a nil value an
 * unspecified entry; the compiler drops such keys of jobs, of `default`/`workflow` and at the top
 * level, so the schema accepts null there.
 */
function nullable(properties: Record<string, JsonSchema>): Record<string, JsonSchema> {
  // The description stays outside, where editors look for it.
  const orNull = ({ description, ...s }: JsonSchema): JsonSchema => ({
    ...(description ? { description } : {}),
    anyOf: [s, { type: 'null' }],
  });
  return Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, orNull(s)]));
}

function withNullableKeys(schema: JsonSchema): JsonSchema {
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  return properties ? { ...schema, properties: nullable(properties) } : schema;
}

/** JSON Schema for `.tandem.yml` / `.gitlab-ci.yml`, for editor completion and validation. */
export function pipelineJsonSchema(): JsonSchema {
  const topLevel = Object.fromEntries(
    Object.entries(topLevelKeys).map(([k, s]) => [k, k === 'default' || k === 'workflow' ? withNullableKeys(toSchema(s)) : toSchema(s)]),
  );
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://tandem.dev/schema/pipeline.json',
    title: 'Tandem pipeline file (a subset of GitLab CI YAML)',
    type: 'object',
    definitions: { job: withNullableKeys(toSchema(jobShape)) },
    properties: nullable(topLevel),
    // Hidden jobs (templates) may hold anything; every other key is a job.
    patternProperties: { '^\\.': {} },
    additionalProperties: { $ref: '#/definitions/job' },
  };
}

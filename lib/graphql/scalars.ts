import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

function invalid(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

function parseDate(value: unknown): Date {
  // RFC 3339 timestamps with an explicit offset; epoch numbers are ambiguous (s or ms?).
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    throw invalid('DateTime must be an RFC 3339 timestamp with offset, e.g. 2026-01-31T12:00:00Z.');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw invalid(`DateTime "${value}" is not a valid date.`);
  return date;
}

/** RFC 3339 timestamps; parsed to `Date`, served as ISO strings in UTC. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An RFC 3339 timestamp with offset, e.g. 2026-01-31T12:00:00.000Z.',
  serialize(value) {
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime cannot represent an invalid date.');
    return date.toISOString();
  },
  parseValue: parseDate,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw invalid('DateTime must be a string.');
    return parseDate(ast.value);
  },
});

function literalToJson(ast: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map((item) => literalToJson(item, variables));
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((field) => [field.name.value, literalToJson(field.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
    default:
      throw invalid('JSON cannot represent this value.');
  }
}

/** Arbitrary JSON values (twin attributes). */
export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: literalToJson,
});

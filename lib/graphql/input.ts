import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, valueFromASTUntyped, visit, type DocumentNode } from 'graphql';
import { ErrorCode } from '../errors.ts';

/** Where, in an argument's value (arrays, objects and their keys), a string holds a NUL; undefined when none does. */
function nulIn(argument: string, value: unknown): string | undefined {
  // Iterative: the value may be nested deeper than the call stack goes.
  const pending: [unknown, string][] = [[value, argument]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, path] = next;
    if (typeof item === 'string') {
      if (item.includes('\0')) return path;
    } else if (Array.isArray(item)) {
      item.forEach((element, index) => pending.push([element, `${path}.${index}`]));
    } else if (typeof item === 'object' && item !== null) {
      for (const [key, element] of Object.entries(item)) {
        if (key.includes('\0')) return path;
        pending.push([element, `${path}.${key}`]);
      }
    }
  }
  return undefined;
}

/**
 * The first argument of the document (literal, or its variable's value) holding a NUL, as `field`,
 * or the first variable whose default value does, as `$name`; undefined when none does.
 */
function nulArgument(document: DocumentNode, variables: Readonly<Record<string, unknown>>): string | undefined {
  let found: string | undefined;
  visit(document, {
    VariableDefinition(node) {
      if (node.defaultValue) found ??= nulIn(`$${node.variable.name.value}`, valueFromASTUntyped(node.defaultValue));
    },
    Argument(node) {
      found ??= nulIn(node.name.value, valueFromASTUntyped(node.value, variables));
    },
  });
  return found;
}

/** Documents whose literals hold no NUL (Apollo Server hands the same document object for the same query string). */
const literalsClean = new WeakSet<DocumentNode>();

/**
 * `nulArgument`, walking a document again only when its variables may hold a NUL: JSON escapes
 * every one, in keys and in strings, as `\u0000` (variables come as JSON, in the body or the URL,
 * both bounded in depth by lib/http.ts).
 */
function nulArgumentOf(document: DocumentNode, variables: Readonly<Record<string, unknown>>): string | undefined {
  if (!literalsClean.has(document)) {
    const field = nulArgument(document, variables);
    if (field === undefined) literalsClean.add(document);
    return field;
  }
  return JSON.stringify(variables).includes('\\u0000') ? nulArgument(document, variables) : undefined;
}

/**
 * Apollo Server plugin: refuses, before anything runs, a request passing a NUL character in any
 * string of its arguments, literal or through variables (JSON values too). No store takes it:
 * PostgreSQL rejects `\u0000` in `text` and `jsonb`. The error is `INVALID_INPUT` naming the
 * argument (`field`, e.g. `filter.text`) and makes the response HTTP 400.
 */
export function inputPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, request }) {
          const field = nulArgumentOf(document, request.variables ?? {});
          if (field !== undefined)
            throw new GraphQLError(`${field}: text may not contain NUL characters.`, {
              extensions: { code: ErrorCode.INVALID_INPUT, field, http: { status: 400 } },
            });
        },
      };
    },
  };
}

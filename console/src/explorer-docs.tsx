import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isIntrospectionType,
  isListType,
  isNonNullType,
  isObjectType,
  isUnionType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLSchema,
  type GraphQLType,
} from 'graphql';

type Open = (name: string) => void;

/** A type as GraphQL writes it (`[Twin!]!`), its named type a link. */
function TypeRef({ type, open }: { type: GraphQLType; open: Open }) {
  if (isNonNullType(type))
    return (
      <>
        <TypeRef type={type.ofType} open={open} />!
      </>
    );
  if (isListType(type))
    return (
      <>
        [<TypeRef type={type.ofType} open={open} />]
      </>
    );
  const named = getNamedType(type);
  return (
    <button type="button" class="link type-name" onClick={() => open(named.name)}>
      {named.name}
    </button>
  );
}

function Arguments({ args, open }: { args: readonly GraphQLArgument[]; open: Open }) {
  if (args.length === 0) return null;
  return (
    <>
      (
      {args.map((arg, index) => (
        <span key={arg.name}>
          {index > 0 && ', '}
          {arg.name}: <TypeRef type={arg.type} open={open} />
        </span>
      ))}
      )
    </>
  );
}

function Field({ field, open }: { field: GraphQLField<unknown, unknown> | GraphQLInputField; open: Open }) {
  return (
    <li>
      <code>
        {field.name}
        {'args' in field && <Arguments args={field.args} open={open} />}: <TypeRef type={field.type} open={open} />
      </code>
      {field.description && <p class="hint">{field.description}</p>}
      {field.deprecationReason && <p class="hint">Deprecated: {field.deprecationReason}</p>}
    </li>
  );
}

/** One type: what it is, its fields, values, members or implementations. */
function TypeDocs({ schema, name, open }: { schema: GraphQLSchema; name: string; open: Open }) {
  const type = schema.getType(name);
  if (!type) return <p>The schema has no type {name}.</p>;
  const fields = isObjectType(type) || isInterfaceType(type) || isInputObjectType(type) ? Object.values(type.getFields()) : [];
  const members = isUnionType(type) ? type.getTypes() : isInterfaceType(type) ? schema.getPossibleTypes(type) : [];
  return (
    <>
      <h3>{type.name}</h3>
      {type.description && <p>{type.description}</p>}
      {fields.length > 0 && (
        <ul class="docs-list">
          {fields.map((field) => (
            <Field key={field.name} field={field} open={open} />
          ))}
        </ul>
      )}
      {isEnumType(type) && (
        <ul class="docs-list">
          {type.getValues().map((value) => (
            <li key={value.name}>
              <code>{value.name}</code>
              {value.description && <p class="hint">{value.description}</p>}
            </li>
          ))}
        </ul>
      )}
      {members.length > 0 && (
        <>
          <h4>{isUnionType(type) ? 'Members' : 'Implemented by'}</h4>
          <ul class="docs-list">
            {members.map((member) => (
              <li key={member.name}>
                <TypeRef type={member} open={open} />
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}

/** The schema to read: its root types and every type, then any type a name links to; `path` is the types opened, the shown one last. */
export function SchemaDocs({ schema, path, onPath }: { schema: GraphQLSchema; path: string[]; onPath: (path: string[]) => void }) {
  const open = (name: string) => onPath([...path, name]);
  const shown = path.at(-1);
  const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter((type) => type !== null && type !== undefined);
  const types = Object.values(schema.getTypeMap())
    .filter((type) => !isIntrospectionType(type) && !roots.some((root) => root.name === type.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  return (
    <div class="docs" data-testid="explorer-docs">
      <nav class="docs-path" aria-label="Types opened">
        <button type="button" class="link" onClick={() => onPath([])}>
          Schema
        </button>
        {path.map((name, index) => (
          <span key={index}>
            {' › '}
            <button type="button" class="link" onClick={() => onPath(path.slice(0, index + 1))}>
              {name}
            </button>
          </span>
        ))}
      </nav>
      {shown ? (
        <TypeDocs schema={schema} name={shown} open={open} />
      ) : (
        <>
          <h3>Root types</h3>
          <ul class="docs-list">
            {roots.map((type) => (
              <li key={type.name}>
                <TypeRef type={type} open={open} />
              </li>
            ))}
          </ul>
          <h3>All types</h3>
          <ul class="docs-list">
            {types.map((type) => (
              <li key={type.name}>
                <TypeRef type={type} open={open} />
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

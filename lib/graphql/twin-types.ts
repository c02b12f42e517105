import { DateTimeScalar, JSONScalar } from './scalars.ts';

/**
 * Value types every twin-serving subgraph declares identically. Federation merges them
 * only when they are `@shareable` and the same everywhere, so there is one source for them.
 */
export const twinValueTypesSdl = /* GraphQL */ `
  scalar DateTime
  scalar JSON

  enum TwinStatus {
    "No reading yet."
    UNKNOWN
    "Every metric's latest reading is within its normal range."
    OK
    "At least one metric's latest reading is outside its normal range."
    ALERT
  }

  enum SortOrder {
    ASC
    DESC
  }

  type PageInfo @shareable {
    hasNextPage: Boolean!
    endCursor: String
  }

  type Location @shareable {
    site: String
    line: String
    latitude: Float
    longitude: Float
  }

  "A metric a twin reports, with its unit and optional normal range."
  type Metric @shareable {
    name: String!
    unit: String!
    min: Float
    max: Float
  }

  "The latest reading of one metric."
  type MetricState @shareable {
    metric: String!
    unit: String!
    value: Float!
    at: DateTime!
    "Whether the value is within the metric's normal range; null when no range is declared."
    inRange: Boolean
  }

  "A twin's live state: the latest reading of every metric and the resulting status."
  type TwinState @shareable {
    status: TwinStatus!
    "Time of the newest reading that set this state."
    updatedAt: DateTime
    metrics: [MetricState!]!
  }

  type Reading @shareable {
    metric: String!
    at: DateTime!
    value: Float!
  }

  type ReadingEdge @shareable {
    cursor: String!
    node: Reading!
  }

  type ReadingConnection @shareable {
    edges: [ReadingEdge!]!
    pageInfo: PageInfo!
  }

  "Readings of one metric aggregated over one time bucket."
  type TelemetryBucket @shareable {
    start: DateTime!
    count: Int!
    avg: Float!
    min: Float!
    max: Float!
    "The value of the bucket's latest reading."
    last: Float!
  }
`;

/**
 * The fields every organization's twin type serves and the directory's `Twin` interface
 * declares: the contract between organizations, which composition enforces. Owned by the
 * organizations, hence nullable: one organization down yields nulls and an error, not
 * `data: null` for the network (federation-design.md, "One org down").
 */
export const twinContractFields = [
  'name: String',
  '"What the twin replicates, e.g. cnc-mill, press, furnace." kind: String',
  'description: String',
  'tags: [String!]',
  'location: Location',
  'metrics: [Metric!]',
  'state: TwinState',
  '"Raw readings of one metric in [from, to), newest first unless order is ASC." telemetry(metric: String!, from: DateTime, to: DateTime, first: Int! = 100, after: String, order: SortOrder! = DESC): ReadingConnection',
  '"Readings of one metric in [from, to) aggregated into buckets of bucketSeconds, for charts." aggregates(metric: String!, from: DateTime!, to: DateTime!, bucketSeconds: Int!): [TelemetryBucket!]',
];

export const twinScalarResolvers = { DateTime: DateTimeScalar, JSON: JSONScalar };

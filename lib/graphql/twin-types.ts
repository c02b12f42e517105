import { DEFAULT_QUERY_LIMITS, type CostOptions, type LimitSettings, type QueryLimits } from './limits.ts';
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

  "How urgent an alarm is."
  enum AlarmSeverity {
    LOW
    MEDIUM
    HIGH
    CRITICAL
  }

  "An alarm's state (ISA-18.2): active or cleared, acknowledged or not; cleared and acknowledged is closed."
  enum AlarmState {
    ACTIVE_UNACKNOWLEDGED
    ACTIVE_ACKNOWLEDGED
    CLEARED_UNACKNOWLEDGED
    CLOSED
  }

  "What happened to an alarm."
  enum AlarmChangeType {
    RAISED
    REACTIVATED
    CLEARED
    ACKNOWLEDGED
    ASSIGNED
    COMMENTED
    ESCALATED
  }

  "One change of an alarm: what, by whom (member:<name>, partner:<org>, or system), when."
  type AlarmHistoryEntry @shareable {
    action: AlarmChangeType!
    by: String!
    at: DateTime!
    "The comment, or the assignee."
    text: String
  }

  "An alarm of a twin: one per twin and cause while it is open."
  type Alarm @shareable {
    id: ID!
    "Global id of the twin."
    twinId: ID!
    "range:<metric> (declared normal range), anomaly:<metric> (detector), health, or rul."
    cause: String!
    severity: AlarmSeverity!
    state: AlarmState!
    active: Boolean!
    acknowledged: Boolean!
    "Which rule or detector raised it and the numbers behind it: score, threshold, baseline, spread, value, limit."
    explanation: JSON!
    raisedAt: DateTime!
    "Its latest activation (escalation counts from there)."
    activatedAt: DateTime!
    clearedAt: DateTime
    acknowledgedAt: DateTime
    acknowledgedBy: String
    assignee: String
    "Escalation periods it stayed unacknowledged."
    escalation: Int!
    escalatedAt: DateTime
    closedAt: DateTime
    "Its changes, oldest first (from the twin's organization only)."
    history: [AlarmHistoryEntry!]
  }

  type AlarmEdge @shareable {
    cursor: String!
    node: Alarm!
  }

  type AlarmConnection @shareable {
    edges: [AlarmEdge!]!
    pageInfo: PageInfo!
  }

  "A reading's anomaly score: its time and score, not its value (that is raw telemetry)."
  type AnomalyScore @shareable {
    at: DateTime!
    "0 (normal) … 1 (certainly anomalous)."
    score: Float!
  }

  type AnomalyScoreEdge @shareable {
    cursor: String!
    node: AnomalyScore!
  }

  type AnomalyScoreConnection @shareable {
    edges: [AnomalyScoreEdge!]!
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

  "A twin producing units: its ideal rate and the cumulative counters (metrics) of all units and of good units."
  type ProductionDeclaration @shareable {
    idealRatePerHour: Float!
    totalCountMetric: String!
    goodCountMetric: String!
  }

  enum MaintenanceType {
    FAILURE
    REPAIR
  }

  "A failure or a repair of a twin, as its organization recorded it."
  type MaintenanceRecord @shareable {
    "Global id of the twin."
    twinId: ID!
    type: MaintenanceType!
    "When it happened."
    at: DateTime!
    note: String
    "Who recorded it: member:<name> or partner:<organization>."
    recordedBy: String!
    recordedAt: DateTime!
  }

  type MaintenanceEdge @shareable {
    cursor: String!
    node: MaintenanceRecord!
  }

  type MaintenanceConnection @shareable {
    edges: [MaintenanceEdge!]!
    pageInfo: PageInfo!
  }

  "Time spent in one status."
  type StatusTime @shareable {
    status: TwinStatus!
    seconds: Float!
  }

  "Overall equipment effectiveness (availability × performance × quality) of twins declaring production."
  type Oee @shareable {
    "Uptime over the range, of these twins."
    availability: Float
    "Units produced over what the ideal rate allows in the uptime; null with no uptime."
    performance: Float
    "Good units over units produced; null with none produced."
    quality: Float
    oee: Float
    totalCount: Float!
    goodCount: Float!
    uptimeSeconds: Float!
  }

  "Key performance indicators over [from, to): of one twin, or summed over several."
  type Kpis @shareable {
    from: DateTime!
    "The end of the range, or now if earlier: time to come is neither up nor down."
    to: DateTime!
    "Twins counted."
    twins: Int!
    uptimeSeconds: Float!
    "The union of failure-to-repair intervals within the range (an open failure lasts to its end)."
    downtimeSeconds: Float!
    "uptime / (uptime + downtime); null for an empty range."
    availability: Float
    "Failures that happened within the range."
    failures: Int!
    "Mean time between failures: uptime / failures; null with no failure."
    mtbfSeconds: Float
    "Repairs within the range."
    repairs: Int!
    "Mean time to repair: the mean duration of the failures repaired within the range; null with none."
    mttrSeconds: Float
    "Time in each status, from the status history (UNKNOWN before the first change)."
    statusSeconds: [StatusTime!]!
    "null when no twin counted declares production."
    oee: Oee
  }

  "A twin's health index and remaining useful life, from its kind's model."
  type Health @shareable {
    "1 as new, 0 worn out; null before the run has a step the model reads."
    index: Float
    p10: Float
    p50: Float
    p90: Float
    "Unit of p10, p50, p90."
    unit: String!
    updatedAt: DateTime
    modelTrainedAt: DateTime
  }

  "What one supplier delivers to a twin: the part, its share of the twin's need, the lead time, and the twin's buffer of it."
  type SupplyLink @shareable {
    "Global id of the supplying twin (here or at another organization)."
    supplierId: ID!
    "What flows; null: the supplier's output itself."
    part: String
    "The supplier's share of the twin's need of the part, 0 … 1."
    share: Float!
    leadTimeHours: Float!
    "Units of the part in stock (with consumptionPerDay)."
    stock: Float
    "Below it the twin is at risk: units with stock, days with daysOfSupply."
    safetyStock: Float
    "Units of the part the twin uses per day at full output."
    consumptionPerDay: Float
    "The buffer in days of consumption (instead of stock)."
    daysOfSupply: Float
    "Hours the buffer lasts at full consumption"
    bufferHours: Float
  }

  "What a twin can produce."
  type Capacity @shareable {
    "Units of output per day."
    perDay: Float!
    unit: String
  }

  "A what-if scenario an organization saved for its own planning."
  type Scenario @shareable {
    "<org>:<uuid>"
    id: ID!
    name: String!
    "Its disruptions, horizon and modifications."
    definition: JSON!
    "member:<name> who first saved it."
    createdBy: String!
    createdAt: DateTime!
    updatedAt: DateTime!
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
  '"Failures and repairs, newest first. Needs analytics:read." maintenance(first: Int! = 50, after: String): MaintenanceConnection',
  '"Availability, MTBF, MTTR, time per status and OEE over [from, to) (at most 400 days). Needs analytics:read." kpis(from: DateTime!, to: DateTime!): Kpis',
  '"Health and remaining useful life; null while the twin\'s kind has no trained model. Needs analytics:read." health: Health',
  '"The twin\'s alarms, newest first, in the states given (default all). Needs analytics:read." alarms(states: [AlarmState!], first: Int! = 50, after: String): AlarmConnection',
  '"Anomaly scores of one metric\'s readings in [from, to) at or above minScore (default 0), newest first. Needs analytics:read." anomalies(metric: String!, from: DateTime, to: DateTime, minScore: Float, first: Int! = 100, after: String): AnomalyScoreConnection',
  '"What the twin\'s suppliers deliver to it. Needs supply:read." supply: [SupplyLink!]',
  '"What the twin can produce; null when not declared. Needs supply:read." capacity: Capacity',
];

export const twinScalarResolvers = { DateTime: DateTimeScalar, JSON: JSONScalar };

/**
 * What lists of a twin-serving subgraph return where `first` does not say it, for query cost
 * (lib/graphql/limits.ts): `aggregates` computes one bucket per `bucketSeconds` of `[from, to)`;
 * Federation's `_entities` resolves one entity per representation the gateway sends.
 */
const twinListSize: NonNullable<CostOptions['listSize']> = (field, argument) => {
  if (field.name === '_entities') {
    const representations = argument('representations');
    return Array.isArray(representations) ? representations.length : undefined;
  }
  if (field.name !== 'aggregates') return undefined;
  return (Date.parse(String(argument('to'))) - Date.parse(String(argument('from')))) / (Number(argument('bucketSeconds')) * 1000);
};

/** The query limits of an endpoint serving twins (gateway, organizations, directory): the defaults, with the settings given. */
export function twinQueryLimits(settings: LimitSettings = {}): QueryLimits & CostOptions {
  const given = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
  return { ...DEFAULT_QUERY_LIMITS, listSize: twinListSize, ...given };
}

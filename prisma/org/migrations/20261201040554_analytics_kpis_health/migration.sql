-- CreateEnum
CREATE TYPE "MaintenanceType" AS ENUM ('FAILURE', 'REPAIR');

-- AlterTable
ALTER TABLE "Twin" ADD COLUMN     "goodCountMetric" TEXT,
ADD COLUMN     "idealRatePerHour" DOUBLE PRECISION,
ADD COLUMN     "totalCountMetric" TEXT;

-- CreateTable
CREATE TABLE "MaintenanceEvent" (
    "id" BIGSERIAL NOT NULL,
    "twinId" TEXT NOT NULL,
    "type" "MaintenanceType" NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "note" TEXT,
    "recordedBy" TEXT NOT NULL,
    "recordedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MaintenanceEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TwinStatusChange" (
    "id" BIGSERIAL NOT NULL,
    "twinId" TEXT NOT NULL,
    "status" "TwinStatus" NOT NULL,
    "from" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "TwinStatusChange_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "HealthModel" (
    "kind" TEXT NOT NULL,
    "model" JSONB,
    "trainedAt" TIMESTAMPTZ(3),
    "runs" INTEGER NOT NULL DEFAULT 0,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "metrics" TEXT[],
    "error" TEXT,
    "attemptedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "healthAlarmBelow" DOUBLE PRECISION,
    "rulHorizonHours" DOUBLE PRECISION,

    CONSTRAINT "HealthModel_pkey" PRIMARY KEY ("kind")
);

-- CreateTable
CREATE TABLE "TwinHealth" (
    "twinId" TEXT NOT NULL,
    "state" JSONB NOT NULL,
    "runStart" TIMESTAMPTZ(3),
    "lastStepAt" TIMESTAMPTZ(3),
    "modelTrainedAt" TIMESTAMPTZ(3),
    "health" DOUBLE PRECISION,
    "p10" DOUBLE PRECISION,
    "p50" DOUBLE PRECISION,
    "p90" DOUBLE PRECISION,
    "healthAlarm" BOOLEAN NOT NULL DEFAULT false,
    "rulAlarm" BOOLEAN NOT NULL DEFAULT false,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TwinHealth_pkey" PRIMARY KEY ("twinId")
);

-- CreateIndex
CREATE INDEX "MaintenanceEvent_twinId_at_idx" ON "MaintenanceEvent"("twinId", "at");

-- CreateIndex
CREATE INDEX "TwinStatusChange_twinId_from_idx" ON "TwinStatusChange"("twinId", "from");

-- AddForeignKey
ALTER TABLE "MaintenanceEvent" ADD CONSTRAINT "MaintenanceEvent_twinId_fkey" FOREIGN KEY ("twinId") REFERENCES "Twin"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TwinStatusChange" ADD CONSTRAINT "TwinStatusChange_twinId_fkey" FOREIGN KEY ("twinId") REFERENCES "Twin"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TwinHealth" ADD CONSTRAINT "TwinHealth_twinId_fkey" FOREIGN KEY ("twinId") REFERENCES "Twin"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Status history: the store's own mechanism, so that every writer of "Twin".status (the
-- ingest statement, metric changes) is covered without changing any of them. A status set by
-- a reading holds from that reading's time; one set by anything else (a new normal range)
-- holds from the change.
CREATE FUNCTION "twin_status_history"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "TwinStatusChange" ("twinId", "status", "from")
  VALUES (NEW."id", NEW."status",
          CASE WHEN NEW."stateUpdatedAt" IS NOT NULL AND (OLD."stateUpdatedAt" IS NULL OR NEW."stateUpdatedAt" > OLD."stateUpdatedAt")
               THEN NEW."stateUpdatedAt" ELSE now() END);
  RETURN NULL;
END
$$;

CREATE TRIGGER "Twin_status_history" AFTER UPDATE OF "status" ON "Twin"
  FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status") EXECUTE FUNCTION "twin_status_history"();

-- Twins that already have a status start their history with it.
INSERT INTO "TwinStatusChange" ("twinId", "status", "from")
SELECT "id", "status", COALESCE("stateUpdatedAt", "createdAt") FROM "Twin" WHERE "status" <> 'UNKNOWN';

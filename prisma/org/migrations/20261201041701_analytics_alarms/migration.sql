-- CreateEnum
CREATE TYPE "AlarmSeverity" AS ENUM ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL');

-- AlterTable
ALTER TABLE "Metric" ADD COLUMN     "sensitivity" DOUBLE PRECISION;

-- AlterTable
ALTER TABLE "Reading" ADD COLUMN     "anomalyScore" DOUBLE PRECISION;

-- CreateTable
CREATE TABLE "SeriesAnalysis" (
    "twinId" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "lastAt" TIMESTAMPTZ(3),
    "state" TEXT NOT NULL,
    "calm" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "SeriesAnalysis_pkey" PRIMARY KEY ("twinId","metric")
);

-- CreateTable
CREATE TABLE "KindAnalytics" (
    "kind" TEXT NOT NULL,
    "sensitivity" DOUBLE PRECISION,
    "escalateAfterSeconds" INTEGER,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "KindAnalytics_pkey" PRIMARY KEY ("kind")
);

-- CreateTable
CREATE TABLE "Alarm" (
    "id" TEXT NOT NULL,
    "twinId" TEXT NOT NULL,
    "cause" TEXT NOT NULL,
    "openCause" TEXT,
    "severity" "AlarmSeverity" NOT NULL,
    "active" BOOLEAN NOT NULL,
    "acknowledged" BOOLEAN NOT NULL DEFAULT false,
    "explanation" JSONB NOT NULL,
    "raisedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "activatedAt" TIMESTAMPTZ(3) NOT NULL,
    "clearedAt" TIMESTAMPTZ(3),
    "acknowledgedAt" TIMESTAMPTZ(3),
    "acknowledgedBy" TEXT,
    "assignee" TEXT,
    "escalation" INTEGER NOT NULL DEFAULT 0,
    "escalatedAt" TIMESTAMPTZ(3),
    "closedAt" TIMESTAMPTZ(3),
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Alarm_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AlarmHistory" (
    "id" BIGSERIAL NOT NULL,
    "alarmId" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "action" TEXT NOT NULL,
    "by" TEXT NOT NULL,
    "text" TEXT,

    CONSTRAINT "AlarmHistory_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Alarm_twinId_raisedAt_idx" ON "Alarm"("twinId", "raisedAt");

-- CreateIndex
CREATE INDEX "Alarm_acknowledged_closedAt_idx" ON "Alarm"("acknowledged", "closedAt");

-- CreateIndex
CREATE UNIQUE INDEX "Alarm_twinId_openCause_key" ON "Alarm"("twinId", "openCause");

-- CreateIndex
CREATE INDEX "AlarmHistory_alarmId_at_idx" ON "AlarmHistory"("alarmId", "at");

-- AddForeignKey
ALTER TABLE "SeriesAnalysis" ADD CONSTRAINT "SeriesAnalysis_twinId_metric_fkey" FOREIGN KEY ("twinId", "metric") REFERENCES "Metric"("twinId", "name") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Alarm" ADD CONSTRAINT "Alarm_twinId_fkey" FOREIGN KEY ("twinId") REFERENCES "Twin"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AlarmHistory" ADD CONSTRAINT "AlarmHistory_alarmId_fkey" FOREIGN KEY ("alarmId") REFERENCES "Alarm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

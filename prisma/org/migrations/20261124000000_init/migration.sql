-- CreateEnum
CREATE TYPE "TwinStatus" AS ENUM ('UNKNOWN', 'OK', 'ALERT');

-- CreateTable
CREATE TABLE "Twin" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "description" TEXT,
    "tags" TEXT[],
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "location" JSONB,
    "status" "TwinStatus" NOT NULL DEFAULT 'UNKNOWN',
    "stateUpdatedAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Twin_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TwinSupplier" (
    "twinId" TEXT NOT NULL,
    "supplierId" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TwinSupplier_pkey" PRIMARY KEY ("twinId","supplierId")
);

-- CreateTable
CREATE TABLE "Metric" (
    "twinId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "unit" TEXT NOT NULL,
    "min" DOUBLE PRECISION,
    "max" DOUBLE PRECISION,
    "lastValue" DOUBLE PRECISION,
    "lastAt" TIMESTAMPTZ(3),

    CONSTRAINT "Metric_pkey" PRIMARY KEY ("twinId","name")
);

-- CreateTable
CREATE TABLE "Reading" (
    "twinId" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "value" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "Reading_pkey" PRIMARY KEY ("twinId","metric","at")
);

-- CreateIndex
CREATE INDEX "Twin_kind_idx" ON "Twin"("kind");

-- CreateIndex
CREATE INDEX "Twin_tags_idx" ON "Twin" USING GIN ("tags");

-- CreateIndex
CREATE INDEX "TwinSupplier_supplierId_idx" ON "TwinSupplier"("supplierId");

-- AddForeignKey
ALTER TABLE "TwinSupplier" ADD CONSTRAINT "TwinSupplier_twinId_fkey" FOREIGN KEY ("twinId") REFERENCES "Twin"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Metric" ADD CONSTRAINT "Metric_twinId_fkey" FOREIGN KEY ("twinId") REFERENCES "Twin"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Reading" ADD CONSTRAINT "Reading_twinId_metric_fkey" FOREIGN KEY ("twinId", "metric") REFERENCES "Metric"("twinId", "name") ON DELETE CASCADE ON UPDATE CASCADE;

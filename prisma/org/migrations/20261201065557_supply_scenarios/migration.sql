-- AlterTable
ALTER TABLE "Twin" ADD COLUMN     "capacityPerDay" DOUBLE PRECISION,
ADD COLUMN     "capacityUnit" TEXT;

-- CreateTable
CREATE TABLE "SupplyLink" (
    "twinId" TEXT NOT NULL,
    "supplierId" TEXT NOT NULL,
    "part" TEXT,
    "share" DOUBLE PRECISION NOT NULL DEFAULT 1,
    "leadTimeHours" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "stock" DOUBLE PRECISION,
    "safetyStock" DOUBLE PRECISION,
    "consumptionPerDay" DOUBLE PRECISION,
    "daysOfSupply" DOUBLE PRECISION,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "SupplyLink_pkey" PRIMARY KEY ("twinId","supplierId")
);

-- CreateTable
CREATE TABLE "Scenario" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "definition" JSONB NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Scenario_pkey" PRIMARY KEY ("id")
);

-- AddForeignKey
ALTER TABLE "SupplyLink" ADD CONSTRAINT "SupplyLink_twinId_supplierId_fkey" FOREIGN KEY ("twinId", "supplierId") REFERENCES "TwinSupplier"("twinId", "supplierId") ON DELETE CASCADE ON UPDATE CASCADE;

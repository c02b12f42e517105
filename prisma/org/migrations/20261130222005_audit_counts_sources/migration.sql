-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN     "claimsVerified" BOOLEAN NOT NULL DEFAULT true,
ADD COLUMN     "count" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "lastAt" TIMESTAMPTZ(3),
ADD COLUMN     "source" TEXT;

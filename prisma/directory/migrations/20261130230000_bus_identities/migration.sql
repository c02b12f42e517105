-- Revoked member tokens are recorded too: the table keeps its rows (revoked grants) under its new
-- name. A revocation counts only for its issuer's tokens: the key is (issuer, jti).
ALTER TABLE "RevokedGrant" RENAME TO "RevokedToken";
ALTER TABLE "RevokedToken" DROP CONSTRAINT "RevokedGrant_pkey";
ALTER TABLE "RevokedToken" ADD CONSTRAINT "RevokedToken_pkey" PRIMARY KEY ("org", "jti");
ALTER TABLE "RevokedToken" ADD COLUMN "kind" TEXT NOT NULL DEFAULT 'GRANT';
ALTER TABLE "RevokedToken" ALTER COLUMN "kind" DROP DEFAULT;

-- CreateIndex
CREATE INDEX "RevokedToken_expiresAt_idx" ON "RevokedToken"("expiresAt");

-- CreateTable
CREATE TABLE "BusKey" (
    "name" TEXT NOT NULL,
    "publicKey" TEXT NOT NULL,
    "sealedSeed" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "BusKey_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "BusUser" (
    "publicKey" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "org" TEXT,
    "name" TEXT NOT NULL,
    "issuedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "BusUser_pkey" PRIMARY KEY ("publicKey")
);

-- CreateIndex
CREATE INDEX "BusUser_org_idx" ON "BusUser"("org");

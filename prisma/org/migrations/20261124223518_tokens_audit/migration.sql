-- CreateEnum
CREATE TYPE "TokenKind" AS ENUM ('MEMBER', 'GRANT');

-- CreateTable
CREATE TABLE "SigningKey" (
    "kid" TEXT NOT NULL,
    "alg" TEXT NOT NULL,
    "publicJwk" JSONB NOT NULL,
    "privateJwe" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retiredAt" TIMESTAMPTZ(3),

    CONSTRAINT "SigningKey_pkey" PRIMARY KEY ("kid")
);

-- CreateTable
CREATE TABLE "Token" (
    "jti" TEXT NOT NULL,
    "kind" "TokenKind" NOT NULL,
    "subject" TEXT NOT NULL,
    "role" TEXT,
    "scopes" TEXT[],
    "selector" JSONB,
    "note" TEXT,
    "issuedBy" TEXT NOT NULL,
    "issuedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "revokedAt" TIMESTAMPTZ(3),
    "revokedBy" TEXT,

    CONSTRAINT "Token_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "AuditEvent" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "partner" TEXT NOT NULL,
    "grantJtis" TEXT[],
    "action" TEXT NOT NULL,
    "operation" TEXT,
    "twinIds" TEXT[],
    "allowed" BOOLEAN NOT NULL,
    "reason" TEXT,

    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Token_kind_subject_idx" ON "Token"("kind", "subject");

-- CreateIndex
CREATE INDEX "AuditEvent_partner_at_idx" ON "AuditEvent"("partner", "at");

-- CreateIndex
CREATE INDEX "AuditEvent_at_idx" ON "AuditEvent"("at");

-- CreateIndex
CREATE INDEX "AuditEvent_twinIds_idx" ON "AuditEvent" USING GIN ("twinIds");

-- CreateIndex
CREATE INDEX "AuditEvent_grantJtis_idx" ON "AuditEvent" USING GIN ("grantJtis");

-- CreateEnum
CREATE TYPE "MemberStatus" AS ENUM ('PENDING', 'ACTIVE', 'SUSPENDED');

-- CreateEnum
CREATE TYPE "TokenKind" AS ENUM ('MEMBER', 'GRANT');

-- CreateTable
CREATE TABLE "Organization" (
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "subgraphUrl" TEXT NOT NULL,
    "jwksUrl" TEXT NOT NULL,
    "status" "MemberStatus" NOT NULL DEFAULT 'PENDING',
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Organization_pkey" PRIMARY KEY ("slug")
);

-- CreateTable
CREATE TABLE "CatalogTwin" (
    "id" TEXT NOT NULL,
    "org" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "tags" TEXT[],
    "suppliedByIds" TEXT[],
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "CatalogTwin_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RevokedGrant" (
    "jti" TEXT NOT NULL,
    "org" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "RevokedGrant_pkey" PRIMARY KEY ("jti")
);

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

-- CreateIndex
CREATE INDEX "CatalogTwin_org_id_idx" ON "CatalogTwin"("org", "id");

-- CreateIndex
CREATE INDEX "CatalogTwin_kind_idx" ON "CatalogTwin"("kind");

-- CreateIndex
CREATE INDEX "CatalogTwin_tags_idx" ON "CatalogTwin" USING GIN ("tags");

-- CreateIndex
CREATE INDEX "CatalogTwin_suppliedByIds_idx" ON "CatalogTwin" USING GIN ("suppliedByIds");

-- CreateIndex
CREATE INDEX "Token_kind_subject_idx" ON "Token"("kind", "subject");

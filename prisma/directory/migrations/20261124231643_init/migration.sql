-- CreateEnum
CREATE TYPE "MemberStatus" AS ENUM ('PENDING', 'ACTIVE', 'SUSPENDED');

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

-- CreateIndex
CREATE INDEX "CatalogTwin_org_id_idx" ON "CatalogTwin"("org", "id");

-- CreateIndex
CREATE INDEX "CatalogTwin_kind_idx" ON "CatalogTwin"("kind");

-- CreateIndex
CREATE INDEX "CatalogTwin_tags_idx" ON "CatalogTwin" USING GIN ("tags");

-- CreateIndex
CREATE INDEX "CatalogTwin_suppliedByIds_idx" ON "CatalogTwin" USING GIN ("suppliedByIds");

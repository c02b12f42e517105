-- CreateTable
CREATE TABLE "ReceivedAccessReport" (
    "gateway" TEXT NOT NULL,
    "reportId" TEXT NOT NULL,
    "receivedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ReceivedAccessReport_pkey" PRIMARY KEY ("gateway","reportId")
);

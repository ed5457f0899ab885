-- AlterTable
ALTER TABLE `messages` ADD COLUMN `erasedAt` DATETIME(3) NULL;

-- CreateTable
CREATE TABLE `erasure_jobs` (
    `id` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `scopeId` CHAR(36) NOT NULL,
    `selector` JSON NOT NULL,
    `state` ENUM('PENDING', 'RUNNING', 'COMPLETED', 'FAILED') NOT NULL DEFAULT 'PENDING',
    `requestedBy` VARCHAR(64) NOT NULL,
    `lastMessageId` CHAR(36) NULL,
    `matched` INTEGER NOT NULL DEFAULT 0,
    `erased` INTEGER NOT NULL DEFAULT 0,
    `failures` INTEGER NOT NULL DEFAULT 0,
    `error` TEXT NULL,
    `createdAt` DATETIME(3) NOT NULL,
    `startedAt` DATETIME(3) NULL,
    `scannedAt` DATETIME(3) NULL,
    `finishedAt` DATETIME(3) NULL,

    INDEX `erasure_jobs_scopeId_id_idx`(`scopeId`, `id`),
    INDEX `erasure_jobs_state_idx`(`state`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `erasure_holds` (
    `jobId` CHAR(36) NOT NULL,
    `messageId` CHAR(36) NOT NULL,
    `claimToken` CHAR(36) NOT NULL,
    `endedAt` DATETIME(3) NULL,

    PRIMARY KEY (`jobId`, `messageId`, `claimToken`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `erasure_holds` ADD CONSTRAINT `erasure_holds_jobId_fkey` FOREIGN KEY (`jobId`) REFERENCES `erasure_jobs`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;
